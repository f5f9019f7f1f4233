use axum::extract::Path;
use axum::response::{Html, IntoResponse, Response};

use super::problem::{PROBLEM_TYPES, Problem, problem_info};
use super::templates::render;

/// `/problems/{slug}`: what a problem type means, for whoever follows its `type` URI.
pub async fn problem_page(Path(slug): Path<String>) -> Response {
    match problem_info(&slug) {
        Some((status, title, meaning)) => render(
            "problem.html",
            minijinja::context! { slug, status, title, meaning, all => PROBLEM_TYPES.iter().map(|p| p.0).collect::<Vec<_>>() },
        )
        .map(Html)
        .into_response(),
        None => Problem::new("not-found", "no such problem type").into_response(),
    }
}
