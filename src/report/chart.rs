//! Charts, PNG and SVG (plotters): error rate of the top codes with their threshold lines and
//! incident bands, error ratio per connection, the security panel (401/403 by IP and by
//! organisation) and the incident timeline. The data of each chart is built first (and
//! tested as data); drawing it is the same code for both formats. The font is embedded
//! (DejaVu Sans, `assets/fonts`), so PNGs render on a machine without system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Context};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analyze::config::{AnalyzeConfig, Metric};
use crate::analyze::grid::{sliding_sum, MINUTE_US};
use crate::analyze::incident::Incident;
use crate::analyze::tables::{Counts, Tables};
use crate::analyze::{Dimension, IncidentClass};

pub(super) static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FONT_NAME: &str = "sans-serif";
const SIZE: (u32, u32) = (1100, 520);
/// How many codes, connections, IPs and organisations a chart shows.
const TOP: usize = 6;
const TOP_BARS: usize = 12;
const MAX_TIMELINE_ROWS: usize = 30;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bytes are a valid TrueType font compiled in; failure is a build defect.
            register_font_bytes(style);
        }
    });
}

fn register_font_bytes(style: FontStyle) {
    if plotters::style::register_font(FONT_NAME, style, FONT).is_err() {
        panic!("the embedded font does not parse");
    }
}

/// A line over time: `(window start µs, value)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    pub label: String,
    pub points: Vec<(i64, f64)>,
}

/// A shaded time span (an incident), coloured by class.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub start: i64,
    pub end: i64,
    pub class: IncidentClass,
}

/// Lines over time with optional horizontal limits and incident bands.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub y_desc: String,
    pub x_range: (i64, i64),
    pub series: Vec<TimeSeries>,
    /// `(label, value)`: a dashed horizontal line.
    pub limits: Vec<(String, f64)>,
    pub bands: Vec<Band>,
}

/// Horizontal bars, one per key, largest first.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub x_desc: String,
    /// `(key, value, annotation)`.
    pub bars: Vec<(String, f64, String)>,
    /// Values are shares (0..1), shown as percentages.
    pub percent: bool,
}

/// One row per incident over the data's time range.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub title: String,
    pub x_range: (i64, i64),
    /// `(label, start, end, class)`.
    pub rows: Vec<(String, i64, i64, IncidentClass)>,
}

/// A chart and its file name (without extension).
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    Lines(&'static str, LineChart),
    /// Two line panels, one above the other.
    Panels(&'static str, String, Box<(LineChart, LineChart)>),
    Bars(&'static str, BarChart),
    Timeline(&'static str, Timeline),
}

impl Chart {
    pub fn name(&self) -> &'static str {
        match self {
            Chart::Lines(n, _)
            | Chart::Panels(n, ..)
            | Chart::Bars(n, _)
            | Chart::Timeline(n, _) => n,
        }
    }

    pub fn title(&self) -> &str {
        match self {
            Chart::Lines(_, c) => &c.title,
            Chart::Panels(_, t, _) => t,
            Chart::Bars(_, c) => &c.title,
            Chart::Timeline(_, c) => &c.title,
        }
    }
}

/// A chart as written: its files and the SVG text (for inlining in HTML).
#[derive(Debug, Clone)]
pub struct WrittenChart {
    pub name: &'static str,
    pub title: String,
    pub png: PathBuf,
    pub svg: PathBuf,
    pub svg_text: String,
}

pub fn class_color(class: IncidentClass) -> RGBColor {
    match class {
        IncidentClass::Critical => RGBColor(214, 39, 40),
        IncidentClass::Security => RGBColor(148, 103, 189),
        IncidentClass::Warning => RGBColor(255, 127, 14),
    }
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];

fn top_keys(t: &Tables, dim: Dimension, n: usize, f: impl Fn(&Counts) -> u64) -> Vec<usize> {
    let Some(d) = t.dim(dim) else {
        return Vec::new();
    };
    let mut idx: Vec<(u64, usize)> = d
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.counts.nonzero().map(|(_, c)| f(&c)).sum::<u64>(), i))
        .filter(|(v, _)| *v > 0)
        .collect();
    // Largest first; ties by key order (the series are sorted by key) for stable output.
    idx.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    idx.into_iter().take(n).map(|(_, i)| i).collect()
}

fn x_range(t: &Tables) -> (i64, i64) {
    (t.grid.start_us, t.grid.end_of(t.grid.n.saturating_sub(1)))
}

fn bands(incidents: &[Incident]) -> Vec<Band> {
    incidents
        .iter()
        .map(|i| Band {
            start: i.start,
            end: i.end,
            class: i.class,
        })
        .collect()
}

/// Points a line keeps per pixel column at most (first, lowest, highest, last).
const PER_COLUMN: usize = 4;

/// A line of many more points than the plot has pixel columns (a year of 5-minute windows
/// is 105,120), cut to what can be drawn: for each run of points that falls on one of
/// `columns` columns, the first, the lowest, the highest and the last, in time order (M4,
/// Jugel et al. 2014). The drawn line is the same, every peak kept at its time, and the
/// SVG and HTML stay a few hundred KB whatever the span.
pub fn decimate(points: Vec<(i64, f64)>, columns: usize) -> Vec<(i64, f64)> {
    let columns = columns.max(1);
    if points.len() <= columns * PER_COLUMN {
        return points;
    }
    let per = points.len().div_ceil(columns);
    let mut out = Vec::with_capacity(columns * PER_COLUMN);
    for run in points.chunks(per) {
        let lowest = run
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let highest = run
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let mut keep: Vec<usize> = vec![0, run.len() - 1];
        keep.extend(lowest.map(|(i, _)| i));
        keep.extend(highest.map(|(i, _)| i));
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|i| run[i]));
    }
    out
}

/// Pixel columns of a line chart's plot area (the chart's width less its margins and the
/// value axis).
const PLOT_COLUMNS: usize = SIZE.0 as usize - 2 * 12 - 64;

/// The middle of the sliding window of `width` buckets that ends with bucket `b`.
fn centre(t: &Tables, b: usize, width: usize) -> i64 {
    t.grid.end_of(b) - (width as i64 * t.grid.step_us) / 2
}

/// Errors per hour (over the sliding window) of the top error codes, with the per-hour
/// threshold rules of those codes and every incident as a band.
pub fn error_rate_chart(t: &Tables, incidents: &[Incident], cfg: &AnalyzeConfig) -> LineChart {
    let sliding = cfg.windows.sliding_minutes.max(1);
    let width = t.grid.buckets_in(i64::from(sliding) * MINUTE_US);
    let per_hour = 60.0 / (width as f64 * t.grid.step_us as f64 / MINUTE_US as f64);
    let mut series = Vec::new();
    let mut limits = Vec::new();
    if let Some(d) = t.dim(Dimension::ErrorCode) {
        for i in top_keys(t, Dimension::ErrorCode, TOP, |c| u64::from(c.errors)) {
            let s = &d.series[i];
            let sums = sliding_sum(&s.values(|c| c.errors), width);
            series.push(TimeSeries {
                label: s.key.clone(),
                // Each sum is plotted at the middle of the hour it covers (the window that
                // ends with bucket b), so a curve peaks over its incident's band, not an
                // hour after it.
                points: decimate(
                    sums.iter()
                        .enumerate()
                        .map(|(b, v)| (centre(t, b, width), *v as f64 * per_hour))
                        .collect(),
                    PLOT_COLUMNS,
                ),
            });
        }
    }
    for r in &cfg.detectors.threshold.effective_rules() {
        let shown = series.iter().any(|s| Some(&s.label) == r.key.as_ref());
        if r.dimension == Dimension::ErrorCode && r.metric == Metric::Errors && shown {
            let hourly = r.above * 60.0 / f64::from(r.window_minutes.max(1));
            let key = r.key.clone().unwrap_or_default();
            limits.push((format!("{key} limit {hourly}/h"), hourly));
        }
    }
    LineChart {
        title: format!("Errors per hour by error code (sliding {sliding} min), top {TOP}"),
        y_desc: "errors per hour".into(),
        x_range: x_range(t),
        series,
        limits,
        bands: bands(incidents),
    }
}

/// Error ratio per connection (errors / requests) of the connections with the most errors;
/// the error count when the export logs no successes (no denominator).
pub fn connections_chart(t: &Tables) -> BarChart {
    let mut bars = Vec::new();
    if let Some(d) = t.dim(Dimension::ConnectionId) {
        for i in top_keys(t, Dimension::ConnectionId, TOP_BARS, |c| {
            u64::from(c.errors)
        }) {
            let tot = d.series[i].total();
            let (value, note) = if t.has_successes {
                let r = f64::from(tot.errors) / f64::from(tot.requests.max(1));
                (r, format!("{:.1}% of {} requests", r * 100.0, tot.requests))
            } else {
                (f64::from(tot.errors), format!("{} errors", tot.errors))
            };
            bars.push((d.series[i].key.clone(), value, note));
        }
    }
    let percent = t.has_successes;
    BarChart {
        title: if percent {
            format!("Error ratio per connection, top {TOP_BARS} by errors")
        } else {
            format!("Errors per connection, top {TOP_BARS} (the export logs no successes)")
        },
        x_desc: if percent { "error ratio" } else { "errors" }.into(),
        bars,
        percent,
    }
}

fn auth_panel(t: &Tables, dim: Dimension, label: &str, bands: &[Band]) -> LineChart {
    let mut series = Vec::new();
    if let Some(d) = t.dim(dim) {
        for i in top_keys(t, dim, TOP, |c| u64::from(c.s401 + c.s403)) {
            let s = &d.series[i];
            series.push(TimeSeries {
                label: s.key.clone(),
                points: decimate(
                    s.counts
                        .iter()
                        .enumerate()
                        .map(|(b, c)| (t.grid.start_of(b), f64::from(c.s401 + c.s403)))
                        .collect(),
                    PLOT_COLUMNS,
                ),
            });
        }
    }
    let minutes = t.grid.step_us / MINUTE_US;
    LineChart {
        title: format!("401/403 per {minutes} min by {label}, top {TOP}"),
        y_desc: format!("401 + 403 per {minutes} min"),
        x_range: x_range(t),
        series,
        limits: Vec::new(),
        bands: bands.to_vec(),
    }
}

/// 401/403 over time by client IP (top panel) and by organisation (bottom panel), with the
/// security incidents as bands.
pub fn security_chart(t: &Tables, incidents: &[Incident]) -> (LineChart, LineChart) {
    let sec: Vec<Band> = bands(incidents)
        .into_iter()
        .filter(|b| b.class == IncidentClass::Security)
        .collect();
    (
        auth_panel(t, Dimension::IpAddress, "IP address", &sec),
        auth_panel(t, Dimension::OrganizationId, "organisation", &sec),
    )
}

/// One row per incident (the first `MAX_TIMELINE_ROWS` by start).
pub fn timeline_chart(t: &Tables, incidents: &[Incident]) -> Timeline {
    let rows = incidents
        .iter()
        .take(MAX_TIMELINE_ROWS)
        .map(|i| {
            let key: String = i.key.chars().take(28).collect();
            (
                format!("{} {}={}", i.detector, i.dimension, key),
                i.start,
                i.end,
                i.class,
            )
        })
        .collect();
    Timeline {
        title: format!(
            "Incident timeline ({} incident{})",
            incidents.len(),
            if incidents.len() == 1 { "" } else { "s" }
        ),
        x_range: x_range(t),
        rows,
    }
}

/// Every chart of a run, from the same analysis results as the other reports.
pub fn build(t: &Tables, incidents: &[Incident], cfg: &AnalyzeConfig) -> Vec<Chart> {
    let (ips, orgs) = security_chart(t, incidents);
    vec![
        Chart::Lines("error_rate", error_rate_chart(t, incidents, cfg)),
        Chart::Bars("connections", connections_chart(t)),
        Chart::Panels(
            "security",
            "Security: 401/403 by IP address and organisation".into(),
            Box::new((ips, orgs)),
        ),
        Chart::Timeline("incidents", timeline_chart(t, incidents)),
    ]
}

/// Tick positions at round UTC times, at most about eight over the range.
pub fn time_ticks(lo: i64, hi: i64) -> (Vec<i64>, i64) {
    const STEPS_MIN: [i64; 12] = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080];
    let span = (hi - lo).max(1);
    let step = STEPS_MIN
        .iter()
        .map(|m| m * MINUTE_US)
        .find(|s| span / s <= 8)
        .unwrap_or(10080 * MINUTE_US * ((span / (10080 * MINUTE_US * 8)) + 1));
    let mut t = lo.div_euclid(step) * step;
    if t < lo {
        t += step;
    }
    let mut ticks = Vec::new();
    while t <= hi {
        ticks.push(t);
        t += step;
    }
    (ticks, step)
}

fn time_label(us: i64, step: i64) -> String {
    let Some(d) = chrono::DateTime::from_timestamp_micros(us) else {
        return us.to_string();
    };
    if step >= 1440 * MINUTE_US {
        d.format("%Y-%m-%d").to_string()
    } else {
        d.format("%m-%d %H:%M").to_string()
    }
}

fn number_label(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

type DrawResult = Result<(), String>;

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

fn font(size: u32) -> TextStyle<'static> {
    (FONT_NAME, size).into_font().into()
}

fn draw_lines<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &LineChart) -> DrawResult {
    let (lo, hi) = (c.x_range.0, c.x_range.1.max(c.x_range.0 + 1));
    let y_max = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(c.limits.iter().map(|l| l.1))
        .fold(0.0_f64, f64::max);
    let y_max = if y_max <= 0.0 { 1.0 } else { y_max * 1.12 };
    let (ticks, step) = time_ticks(lo, hi);
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, font(20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d((lo..hi).with_key_points(ticks), 0.0..y_max)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("time (UTC)")
        .y_desc(c.y_desc.as_str())
        .x_label_formatter(&|x| time_label(*x, step))
        .y_label_formatter(&|y| number_label(*y))
        .label_style(font(13))
        .axis_desc_style(font(14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    for b in &c.bands {
        let color = class_color(b.class);
        let end = b.end.max(b.start + (hi - lo) / 400).min(hi);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(b.start.max(lo), 0.0), (end, y_max)],
                color.mix(0.14).filled(),
            )))
            .map_err(e)?;
    }
    for (i, s) in c.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(e)?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
    }
    for (label, v) in &c.limits {
        chart
            .draw_series(DashedLineSeries::new(
                [(lo, *v), (hi, *v)],
                8,
                5,
                ShapeStyle::from(&BLACK.mix(0.7)).stroke_width(1),
            ))
            .map_err(e)?
            .label(label.as_str())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 7, y)], BLACK.mix(0.7)));
    }
    if c.series.is_empty() {
        area.draw(&Text::new(
            "no events in this view",
            (
                area.dim_in_pixel().0 as i32 / 2 - 80,
                area.dim_in_pixel().1 as i32 / 2,
            ),
            font(16),
        ))
        .map_err(e)?;
    } else {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(font(13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// Rows of horizontal bars: row `r` (0 at the bottom) spans `r * ROW .. (r + 1) * ROW` on
/// an integer axis, labelled at its centre.
const ROW: i64 = 10;

fn row_label(labels: &[String], y: i64) -> String {
    let n = labels.len() as i64;
    let row = y.div_euclid(ROW);
    if !(0..n).contains(&row) {
        return String::new();
    }
    labels[(n - 1 - row) as usize].clone()
}

fn row_ticks(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| i * ROW + ROW / 2).collect()
}

fn row_span(row: usize, from: i64, to: i64) -> (i64, i64) {
    (row as i64 * ROW + from, row as i64 * ROW + to)
}

fn draw_bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &BarChart) -> DrawResult {
    let n = c.bars.len().max(1);
    let x_max = c.bars.iter().map(|b| b.1).fold(0.0_f64, f64::max);
    let x_max = if c.percent {
        (x_max * 1.35).clamp(0.05, 1.0)
    } else {
        (x_max * 1.35).max(1.0)
    };
    let names: Vec<String> = c.bars.iter().map(|b| b.0.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, font(20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(190)
        .build_cartesian_2d(
            0.0..x_max,
            (0..n as i64 * ROW).with_key_points(row_ticks(n)),
        )
        .map_err(e)?;
    let percent = c.percent;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(c.x_desc.as_str())
        .y_label_formatter(&|y| row_label(&names, *y))
        .x_label_formatter(&|x| {
            if percent {
                format!("{:.0}%", x * 100.0)
            } else {
                number_label(*x)
            }
        })
        .label_style(font(13))
        .axis_desc_style(font(14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    // Largest on top: bar i is drawn in row n - 1 - i.
    for (i, (_, v, note)) in c.bars.iter().enumerate() {
        let (lo, hi) = row_span(n - 1 - i, 2, 8);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, lo), (*v, hi)],
                PALETTE[0].mix(0.8).filled(),
            )))
            .map_err(e)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("  {note}"),
                (*v, row_span(n - 1 - i, 6, 0).0),
                font(12),
            )))
            .map_err(e)?;
    }
    if c.bars.is_empty() {
        area.draw(&Text::new("no connection errors", (400, 250), font(16)))
            .map_err(e)?;
    }
    Ok(())
}

fn draw_timeline<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &Timeline) -> DrawResult {
    let (lo, hi) = (c.x_range.0, c.x_range.1.max(c.x_range.0 + 1));
    let n = c.rows.len().max(1);
    let (ticks, step) = time_ticks(lo, hi);
    let labels: Vec<String> = c.rows.iter().map(|r| r.0.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, font(20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(300)
        .build_cartesian_2d(
            (lo..hi).with_key_points(ticks),
            (0..n as i64 * ROW).with_key_points(row_ticks(n)),
        )
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("time (UTC)")
        .y_label_formatter(&|y| row_label(&labels, *y))
        .x_label_formatter(&|x| time_label(*x, step))
        .label_style(font(12))
        .axis_desc_style(font(14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    let min_width = (hi - lo) / 250;
    for (i, (_, start, end, class)) in c.rows.iter().enumerate() {
        let (bottom, top) = row_span(n - 1 - i, 2, 8);
        let end = (*end).max(start + min_width);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(*start, bottom), (end, top)],
                class_color(*class).filled(),
            )))
            .map_err(e)?;
    }
    // Legend: one swatch per class.
    for (i, class) in [
        IncidentClass::Critical,
        IncidentClass::Security,
        IncidentClass::Warning,
    ]
    .into_iter()
    .enumerate()
    {
        let x = SIZE.0 as i32 - 330 + i as i32 * 105;
        area.draw(&Rectangle::new(
            [(x, 14), (x + 14, 26)],
            class_color(class).filled(),
        ))
        .map_err(e)?;
        area.draw(&Text::new(class.as_str(), (x + 18, 13), font(13)))
            .map_err(e)?;
    }
    if c.rows.is_empty() {
        area.draw(&Text::new("no incidents", (500, 250), font(16)))
            .map_err(e)?;
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart) -> DrawResult {
    root.fill(&WHITE).map_err(e)?;
    match chart {
        Chart::Lines(_, c) => draw_lines(&root, c)?,
        Chart::Bars(_, c) => draw_bars(&root, c)?,
        Chart::Timeline(_, c) => draw_timeline(&root, c)?,
        Chart::Panels(_, _, p) => {
            let (top, bottom) = root.split_vertically(SIZE.1);
            draw_lines(&top, &p.0)?;
            draw_lines(&bottom, &p.1)?;
        }
    }
    root.present().map_err(e)
}

fn size_of(chart: &Chart) -> (u32, u32) {
    match chart {
        Chart::Panels(..) => (SIZE.0, SIZE.1 * 2),
        Chart::Timeline(_, t) => (SIZE.0, (140 + 26 * t.rows.len() as u32).max(SIZE.1 / 2)),
        _ => SIZE,
    }
}

/// Writes `<name>.png` and `<name>.svg` into `dir`, each atomically (drawn under a hidden
/// temporary name, then renamed).
pub fn write(chart: &Chart, dir: &Path) -> anyhow::Result<WrittenChart> {
    register_font();
    let name = chart.name();
    let size = size_of(chart);
    let mut svg_text = String::new();
    draw(
        SVGBackend::with_string(&mut svg_text, size).into_drawing_area(),
        chart,
    )
    .map_err(|m| anyhow!("drawing {name}.svg: {m}"))?;
    let svg = dir.join(format!("{name}.svg"));
    super::atomic::write_file(&svg, svg_text.as_bytes())
        .with_context(|| format!("cannot write {}", svg.display()))?;
    let png = dir.join(format!("{name}.png"));
    // The temporary name keeps the `.png` extension: the encoder picks the format by it.
    let tmp = dir.join(format!(".{}-{name}.png", std::process::id()));
    let png_backend = super::glyphs::GlyphBackend::new(BitMapBackend::new(&tmp, size), FONT);
    let drawn = draw(png_backend.into_drawing_area(), chart)
        .map_err(|m| anyhow!("drawing {name}.png: {m}"))
        .and_then(|()| {
            std::fs::rename(&tmp, &png).with_context(|| format!("cannot write {}", png.display()))
        });
    if drawn.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    drawn?;
    Ok(WrittenChart {
        name,
        title: chart.title().to_string(),
        png,
        svg,
        svg_text,
    })
}

/// Builds and writes every chart into `dir`.
pub fn write_all(
    t: &Tables,
    incidents: &[Incident],
    cfg: &AnalyzeConfig,
    dir: &Path,
) -> anyhow::Result<Vec<WrittenChart>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    build(t, incidents, cfg)
        .iter()
        .map(|c| write(c, dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_utc_times() {
        let h = 60 * MINUTE_US;
        let (ticks, step) = time_ticks(10 * MINUTE_US, 10 * h);
        assert_eq!(step, 2 * h);
        assert_eq!(ticks, vec![2 * h, 4 * h, 6 * h, 8 * h, 10 * h]);
        let (ticks, step) = time_ticks(0, 3 * 1440 * MINUTE_US);
        assert_eq!(step, 720 * MINUTE_US);
        assert_eq!(ticks.len(), 7);
        assert_eq!(time_label(0, step), "01-01 00:00");
        assert_eq!(time_label(0, 1440 * MINUTE_US), "1970-01-01");
    }

    /// Wide lines in the PNG stay inside the plot: a long, spiky series (several points a
    /// pixel column) leaves no ink of its colour in the x axis' label area at the bottom
    /// of the chart. The bitmap backend's own polyline (mitred corners) fails the check.
    #[test]
    fn png_lines_stay_inside_the_plot() {
        register_font();
        let chart = LineChart {
            title: "spikes".into(),
            y_desc: "n".into(),
            x_range: (0, 6000 * 300),
            series: vec![TimeSeries {
                label: "k".into(),
                // Several points a pixel column, as a long span draws, mostly zeros with
                // a spike now and then (many segments of no length).
                points: (0..6000i64)
                    .map(|i| (i * 300, if i % 37 == 0 { 3.0 } else { 0.0 }))
                    .collect(),
            }],
            limits: Vec::new(),
            bands: Vec::new(),
        };
        let (w, h) = SIZE;
        let ink_below = |glyph_backend: bool| -> usize {
            let mut buf = vec![0u8; (w * h * 3) as usize];
            {
                let bitmap = BitMapBackend::with_buffer(&mut buf, SIZE);
                if glyph_backend {
                    let b = super::super::glyphs::GlyphBackend::new(bitmap, FONT);
                    draw(b.into_drawing_area(), &Chart::Lines("t", chart.clone())).unwrap();
                } else {
                    draw(
                        bitmap.into_drawing_area(),
                        &Chart::Lines("t", chart.clone()),
                    )
                    .unwrap();
                }
            }
            // The bottom 30 rows: tick labels and the axis title (black and grey), no
            // series (coloured).
            (h - 30..h)
                .flat_map(|y| (0..w).map(move |x| ((y * w + x) * 3) as usize))
                .filter(|&i| buf[i] != buf[i + 1] || buf[i + 1] != buf[i + 2])
                .count()
        };
        assert_eq!(ink_below(true), 0, "the series' colour below the plot");
        assert!(ink_below(false) > 0, "the check tells mitred corners apart");
    }

    /// A year of 5-minute points is cut to at most four per pixel column, keeping every
    /// column's lowest and highest points at their times, the ends, and time order; a
    /// line with fewer points than that is left as it is.
    #[test]
    fn long_lines_keep_each_columns_extremes() {
        let n = 105_120usize;
        let points: Vec<(i64, f64)> = (0..n)
            .map(|i| {
                let v = match i {
                    50_000 => 900.0,
                    77_777 => -3.0,
                    _ => ((i * 7919) % 13) as f64,
                };
                (i as i64 * 300, v)
            })
            .collect();
        let cut = decimate(points.clone(), PLOT_COLUMNS);
        assert!(
            cut.len() <= PLOT_COLUMNS * PER_COLUMN,
            "{} points",
            cut.len()
        );
        assert!(cut.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
        assert_eq!(cut.first(), points.first());
        assert_eq!(cut.last(), points.last());
        assert!(cut.contains(&(50_000 * 300, 900.0)));
        assert!(cut.contains(&(77_777 * 300, -3.0)));
        // Every run of points that one column draws keeps its lowest and highest value.
        let per = n.div_ceil(PLOT_COLUMNS);
        for run in points.chunks(per) {
            let (lo, hi) = (run[0].0, run[run.len() - 1].0);
            let kept: Vec<f64> = cut
                .iter()
                .filter(|p| lo <= p.0 && p.0 <= hi)
                .map(|p| p.1)
                .collect();
            let max = run.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            let min = run.iter().map(|p| p.1).fold(f64::MAX, f64::min);
            assert!(kept.contains(&max) && kept.contains(&min));
        }
        let short: Vec<(i64, f64)> = points[..2000].to_vec();
        assert_eq!(decimate(short.clone(), PLOT_COLUMNS), short);
    }
}
