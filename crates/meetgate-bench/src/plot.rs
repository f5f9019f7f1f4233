//! The PNG: latency against offered load (log–log), p50 solid and p99 thin, per target.
//!
//! plotters draws with its bitmap backend only; text goes through ab_glyph with a TrueType font
//! read at run time (`MEETGATE_BENCH_FONT`, else DejaVu Sans or Liberation Sans where Debian puts
//! them). Without a font the plot is drawn without text, and the legend is in the Markdown report.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::scenarios::overhead::OverheadResult;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
];

/// Registers a sans-serif font for the plot; false when none was found.
fn register_font() -> bool {
    let candidates = std::env::var("MEETGATE_BENCH_FONT")
        .ok()
        .into_iter()
        .chain(FONT_PATHS.iter().map(|s| s.to_string()));
    for path in candidates {
        if let Ok(bytes) = std::fs::read(&path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
    }
    false
}

/// Colours per target, in report order.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Writes the plot; returns whether it has text (axis labels, legend).
pub fn latency_png(path: &Path, o: &OverheadResult) -> anyhow::Result<bool> {
    let text = register_font();
    draw(path, o, text).map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
    Ok(text)
}

fn draw(path: &Path, o: &OverheadResult, text: bool) -> Result<(), Box<dyn std::error::Error>> {
    let points: Vec<f64> = o
        .targets
        .iter()
        .flat_map(|t| {
            t.levels
                .iter()
                .flat_map(|l| [l.p50_ms.median, l.p99_ms.median])
        })
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let y_min = points
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(1.0)
        * 0.7;
    let y_max = points.iter().copied().fold(0.0, f64::max).max(2.0) * 1.5;
    let x_min = o.rates.iter().copied().min().unwrap_or(100) as f64 * 0.8;
    let x_max = o.rates.iter().copied().max().unwrap_or(2000) as f64 * 1.25;

    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .margin(20)
        .x_label_area_size(if text { 50 } else { 5 })
        .y_label_area_size(if text { 70 } else { 5 });
    if text {
        builder.caption(
            "Meeting create latency against offered load (p50 thick, p99 thin)",
            ("sans-serif", 22),
        );
    }
    let mut chart =
        builder.build_cartesian_2d((x_min..x_max).log_scale(), (y_min..y_max).log_scale())?;
    if text {
        chart
            .configure_mesh()
            .x_desc("offered load (requests/s)")
            .x_labels(8)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y}"))
            .y_desc("latency (ms)")
            .label_style(("sans-serif", 16))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
    } else {
        chart.configure_mesh().x_labels(0).y_labels(0).draw()?;
    }
    for (i, t) in o.targets.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let p50: Vec<(f64, f64)> = t
            .levels
            .iter()
            .filter(|l| l.p50_ms.median.is_finite())
            .map(|l| (f64::from(l.rate), l.p50_ms.median.max(y_min)))
            .collect();
        let p99: Vec<(f64, f64)> = t
            .levels
            .iter()
            .filter(|l| l.p99_ms.median.is_finite())
            .map(|l| (f64::from(l.rate), l.p99_ms.median.max(y_min)))
            .collect();
        let series = chart.draw_series(LineSeries::new(p50.clone(), colour.stroke_width(3)))?;
        if text {
            series.label(t.name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
        }
        chart.draw_series(p50.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
        chart.draw_series(LineSeries::new(p99.clone(), colour.stroke_width(1)))?;
        chart.draw_series(
            p99.iter()
                .map(|&p| Circle::new(p, 3, colour.stroke_width(1))),
        )?;
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
