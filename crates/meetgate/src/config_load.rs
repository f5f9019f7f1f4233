//! Configuration layering: defaults, then `meetgate.toml`, then `MEETGATE_*` variables (or
//! `MEETGATE_*_FILE` naming a file that holds the value), then flags.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use meetgate_service::config::Config;
use toml::Value;

/// Variables that are not settings but are still meetgate's.
const OTHER_VARIABLES: &[&str] = &[
    "MEETGATE_CONFIG",
    "MEETGATE_TEST_POSTGRES_URL",
    // `meetgate member add` reads the new member's password from it.
    "MEETGATE_MEMBER_PASSWORD",
];

/// Flags that override settings, as `(dotted path, value)`.
pub type Overrides = Vec<(&'static str, Value)>;

/// The result, with warnings to print once logging is up.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub source: Option<PathBuf>,
    pub warnings: Vec<String>,
}

fn leaves(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Table(table) => {
            for (k, v) in table {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

fn env_name(path: &str) -> String {
    format!("MEETGATE_{}", path.replace('.', "_").to_uppercase())
}

fn set(table: &mut Value, path: &str, value: Value) -> anyhow::Result<()> {
    let mut node = table;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Table(t) = node else {
            bail!("setting `{path}` is not a table path")
        };
        if parts.peek().is_none() {
            t.insert(part.to_owned(), value);
            return Ok(());
        }
        node = t
            .entry(part.to_owned())
            .or_insert_with(|| Value::Table(Default::default()));
    }
    Ok(())
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Table(b), Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Parses an environment value as the same type as the setting's default.
fn typed(default: &Value, raw: &str, var: &str) -> anyhow::Result<Value> {
    Ok(match default {
        Value::Integer(_) => Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| anyhow!("{var}: {raw:?} is not a whole number"))?,
        ),
        Value::Boolean(_) => Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => bail!("{var}: {raw:?} is not true or false"),
        }),
        Value::Float(_) => Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| anyhow!("{var}: {raw:?} is not a number"))?,
        ),
        _ => Value::String(raw.to_owned()),
    })
}

pub fn load(
    config_path: Option<&Path>,
    env: &HashMap<String, String>,
    overrides: Overrides,
) -> anyhow::Result<Loaded> {
    let mut table = Value::try_from(Config::default()).context("default configuration")?;
    let mut defaults = BTreeMap::new();
    leaves("", &table, &mut defaults);

    let explicit = config_path
        .map(Path::to_owned)
        .or_else(|| env.get("MEETGATE_CONFIG").map(PathBuf::from));
    let source = match explicit {
        Some(path) => Some(path),
        None => Some(PathBuf::from("meetgate.toml")).filter(|p| p.exists()),
    };
    if let Some(path) = &source {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration file {}", path.display()))?;
        let file: Value = toml::from_str(&text)
            .map_err(|e| anyhow!("configuration file {}: {}", path.display(), e.message()))?;
        merge(&mut table, file);
    }

    let mut used: Vec<String> = OTHER_VARIABLES.iter().map(|s| s.to_string()).collect();
    for (path, default) in &defaults {
        let name = env_name(path);
        let file_name = format!("{name}_FILE");
        let raw = match (env.get(&name), env.get(&file_name)) {
            (Some(_), Some(_)) => bail!("both {name} and {file_name} are set; use one"),
            (Some(v), None) => Some(v.clone()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("{file_name}: cannot read {file}"))?
                    .trim_end_matches(['\n', '\r'])
                    .to_owned(),
            ),
            (None, None) => None,
        };
        used.push(name.clone());
        used.push(file_name);
        if let Some(raw) = raw {
            set(&mut table, path, typed(default, &raw, &name)?)?;
        }
    }
    let mut warnings: Vec<String> = env
        .keys()
        .filter(|k| k.starts_with("MEETGATE_") && !used.contains(k))
        .map(|k| format!("unknown environment variable {k} is ignored (see `meetgate config default` for the settings)"))
        .collect();
    warnings.sort();

    for (path, value) in overrides {
        set(&mut table, path, value)?;
    }
    let config: Config = table
        .try_into()
        .map_err(|e: toml::de::Error| anyhow!("configuration: {}", e.message()))?;
    Ok(Loaded {
        config,
        source,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn temp(name: &str, content: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("meetgate-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn layers_apply_in_order() {
        let file = temp(
            "layers.toml",
            "listen = \"127.0.0.1:7000\"\n[zoom]\nrefresh_margin_secs = 100\nidle_refresh_days = 9\n",
        );
        let loaded = load(
            Some(&file),
            &env(&[
                ("MEETGATE_ZOOM_REFRESH_MARGIN_SECS", "200"),
                ("MEETGATE_LOG_FORMAT", "json"),
            ]),
            vec![("listen", Value::String("127.0.0.1:9000".into()))],
        )
        .unwrap();
        assert_eq!(
            loaded.config.listen, "127.0.0.1:9000",
            "flags beat the file"
        );
        assert_eq!(
            loaded.config.zoom.refresh_margin_secs, 200,
            "env beats the file"
        );
        assert_eq!(
            loaded.config.zoom.idle_refresh_days, 9,
            "file beats defaults"
        );
        assert_eq!(loaded.config.log.format, "json");
        assert_eq!(
            loaded.config.jobs.webhook_max_attempts, 12,
            "defaults fill the rest"
        );
    }

    #[test]
    fn secrets_come_from_files_and_unknown_variables_warn() {
        let keyfile = temp("keys", "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
        let loaded = load(
            None,
            &env(&[
                ("MEETGATE_VAULT_KEYS_FILE", keyfile.to_str().unwrap()),
                ("MEETGATE_LISTN", "x"),
            ]),
            vec![],
        )
        .unwrap();
        assert_eq!(
            loaded.config.vault.keys,
            "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        );
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("MEETGATE_LISTN"));
    }

    #[test]
    fn errors_name_the_setting() {
        let err = load(
            None,
            &env(&[("MEETGATE_ZOOM_REFRESH_MARGIN_SECS", "soon")]),
            vec![],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("MEETGATE_ZOOM_REFRESH_MARGIN_SECS"),
            "{err}"
        );
        let file = temp("unknown.toml", "[zoom]\nrefresh_margn_secs = 1\n");
        let err = load(Some(&file), &env(&[]), vec![]).unwrap_err();
        assert!(err.to_string().contains("refresh_margn_secs"), "{err}");
    }
}
