//! `analyze --timings`: wall time per stage, and the CPU time of ingest's concurrent parts.

use std::time::Instant;

/// Wall time per stage.
pub(super) struct Stages {
    last: Instant,
    laps: Vec<(&'static str, f64)>,
    /// Ingest's concurrent parts: name and CPU seconds.
    pub parts: Vec<(&'static str, f64)>,
}

impl Default for Stages {
    fn default() -> Self {
        Stages {
            last: Instant::now(),
            laps: Vec::new(),
            parts: Vec::new(),
        }
    }
}

impl Stages {
    pub fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps
            .push((name, now.duration_since(self.last).as_secs_f64()));
        self.last = now;
    }

    pub fn render(&self, bytes: u64, events: u64) -> String {
        let total: f64 = self.laps.iter().map(|(_, s)| s).sum();
        // One line: seconds, share of `whole`, and the input's bytes and events per second.
        let row = |out: &mut String, name: &str, s: f64, whole: f64| {
            let per = |n: f64| if s > 0.0 { n / s } else { 0.0 };
            out.push_str(&format!(
                "{name:44} {s:7.2} {:6.1}% {:6.0} {:9.0}\n",
                100.0 * s / whole.max(f64::EPSILON),
                per(bytes as f64 / 1e6),
                per(events as f64),
            ));
        };
        let mut out = String::from(
            "stage                                         wall s   share   MB/s  events/s\n",
        );
        for (name, s) in self.laps.iter().chain(std::iter::once(&("total", total))) {
            row(&mut out, name, *s, total);
        }
        if !self.parts.is_empty() {
            // Throughput per CPU second: what one core does of each part.
            out.push_str(
                "ingest, parts at once (thread CPU)            cpu s   share   MB/s  events/s\n",
            );
            let cpu: f64 = self.parts.iter().map(|(_, s)| s).sum();
            for (name, s) in &self.parts {
                row(&mut out, name, *s, cpu);
            }
        }
        out
    }
}
