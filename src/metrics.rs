//! Prometheus metrics, kept in one process-wide registry and written in the text exposition
//! format. Labels are data-service names, resource types, statuses and reasons: never
//! anything about a patient.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, Labels), u64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

const HELP: &[(&str, &str, &str)] = &[
    ("dva_requests_total", "counter", "FHIR requests by data service, resource type and HTTP status"),
    ("dva_request_duration_seconds", "histogram", "FHIR request latency by data service"),
    ("dva_db_statement_duration_seconds", "histogram", "Time in the legacy database per statement, by data service"),
    ("dva_reloads_total", "counter", "Configuration reloads by outcome (applied, rejected)"),
    ("dva_auth_failures_total", "counter", "Requests refused for their token, by reason"),
    ("dva_source_pool_connections", "gauge", "Database pool connections by data service and state (max, open, idle)"),
];

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    // A panic while holding the lock cannot leave the counters inconsistent enough to matter.
    let mut guard = registry().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut guard)
}

pub fn count(name: &'static str, labels: Labels) {
    with(|r| *r.counters.entry((name, labels)).or_default() += 1);
}

pub fn observe(name: &'static str, labels: Labels, elapsed: Duration) {
    with(|r| r.histograms.entry((name, labels)).or_default().observe(elapsed.as_secs_f64()));
}

fn label_text(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The exposition text; `gauges` are sampled by the caller at scrape time.
pub fn render(gauges: &[(&'static str, Labels, f64)]) -> String {
    with(|r| {
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((n, labels), value) in &r.counters {
                if n == name {
                    let _ = writeln!(out, "{name}{} {value}", label_text(labels, None));
                }
            }
            for ((n, labels), h) in &r.histograms {
                if n != name {
                    continue;
                }
                for (bound, c) in BUCKETS.iter().zip(&h.counts) {
                    let _ = writeln!(out, "{name}_bucket{} {c}", label_text(labels, Some(("le", bound.to_string()))));
                }
                let _ = writeln!(out, "{name}_bucket{} {}", label_text(labels, Some(("le", "+Inf".into()))), h.count);
                let _ = writeln!(out, "{name}_sum{} {}", label_text(labels, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
            }
            for (n, labels, value) in gauges {
                if n == name {
                    let _ = writeln!(out, "{name}{} {value}", label_text(labels, None));
                }
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        count("dva_reloads_total", vec![("outcome", "applied".into())]);
        observe("dva_request_duration_seconds", vec![("service", "unit-test".into())], Duration::from_millis(3));
        let text = render(&[(
            "dva_source_pool_connections",
            vec![("service", "unit-test".into()), ("state", "max".into())],
            4.0,
        )]);
        assert!(text.contains("dva_reloads_total{outcome=\"applied\"}"));
        assert!(text.contains("dva_request_duration_seconds_bucket{service=\"unit-test\",le=\"0.0025\"} 0"));
        assert!(text.contains("dva_request_duration_seconds_bucket{service=\"unit-test\",le=\"0.005\"} 1"));
        assert!(text.contains("dva_request_duration_seconds_count{service=\"unit-test\"} 1"));
        assert!(text.contains("dva_source_pool_connections{service=\"unit-test\",state=\"max\"} 4"));
    }
}
