//! `pipework bench --plot FILE.svg`: first one summary chart, every figure's speedup over its
//! baseline on a log scale around the parity line; then one bar chart per metric, pipework
//! beside its baseline for every mechanism, each bar labelled with its value.
//!
//! Every chart has a title strip of its own holding the caption and the legend, so neither can
//! cover the other or a bar.

use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{display_unit, display_value, Figure};

const OURS: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const BASELINE: RGBColor = RGBColor(0xaa, 0xaa, 0xaa);
const SLOWER: RGBColor = RGBColor(0xe0, 0x7b, 0x1a);
const PARITY: RGBColor = RGBColor(0x33, 0x33, 0x33);

/// Width of the whole drawing, in pixels.
const WIDTH: u32 = 1000;
/// Height of one row of the summary chart.
const SUMMARY_ROW: u32 = 26;
/// Height of one per-metric chart.
const METRIC_HEIGHT: u32 = 300;
/// Height of a chart's title strip.
const STRIP: u32 = 46;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Failure = Box<dyn std::error::Error>;

/// Draws `figures`, measured as medians of `runs` runs, into the SVG file `path`.
pub fn draw(path: &Path, figures: &[Figure], runs: usize) -> io::Result<()> {
    let mut metrics: Vec<(&str, &str)> = Vec::new();
    for f in figures {
        if !metrics.contains(&(f.metric, f.unit)) {
            metrics.push((f.metric, f.unit));
        }
    }
    if metrics.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "nothing to plot",
        ));
    }
    // Metrics measured on several mechanisms get a row of their own, so that their labels have
    // room; those of one mechanism go two to a row after them.
    let rows_of = |metric: &str, unit: &str| -> Vec<&Figure> {
        figures
            .iter()
            .filter(|f| f.metric == metric && f.unit == unit)
            .collect()
    };
    let (wide, narrow): (Vec<_>, Vec<_>) = metrics
        .iter()
        .partition(|(metric, unit)| rows_of(metric, unit).len() > 1);
    let metric_rows = wide.len() + narrow.len().div_ceil(2);
    let summary_height = STRIP + 60 + SUMMARY_ROW * figures.len() as u32;
    let height = summary_height + METRIC_HEIGHT * metric_rows as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(io::Error::other)?;
    let (top, rest) = root.split_vertically(summary_height);
    let failed = |e: Failure| io::Error::other(e.to_string());
    summary(&top, figures, runs).map_err(failed)?;
    let bands = rest.split_evenly((metric_rows, 1));
    let mut cells = Vec::new();
    for (band, (metric, unit)) in bands.iter().zip(&wide) {
        cells.push((band.clone(), *metric, *unit));
    }
    for (band, pair) in bands[wide.len()..].iter().zip(narrow.chunks(2)) {
        for (half, (metric, unit)) in band.split_evenly((1, 2)).into_iter().zip(pair) {
            cells.push((half, *metric, *unit));
        }
    }
    for (area, metric, unit) in &cells {
        per_metric(area, metric, unit, &rows_of(metric, unit)).map_err(failed)?;
    }
    root.present().map_err(io::Error::other)
}

/// Splits off `area`'s title strip and writes `title` and the legend `entries` (colour, label)
/// into it; returns the rest of the area, for the chart.
fn title_strip<'a>(
    area: &Area<'a>,
    title: &str,
    subtitle: &str,
    entries: &[(RGBColor, &str)],
) -> Result<Area<'a>, Failure> {
    let (strip, rest) = area.split_vertically(STRIP);
    let bold = ("sans-serif", 17).into_font().style(FontStyle::Bold);
    strip.draw(&Text::new(title.to_string(), (12, 6), bold))?;
    strip.draw(&Text::new(
        subtitle.to_string(),
        (12, 27),
        ("sans-serif", 12).into_font().color(&PARITY),
    ))?;
    // The legend, right-aligned in the strip: a swatch and a label per entry.
    let font = ("sans-serif", 12).into_font();
    let mut x = area.dim_in_pixel().0 as i32 - 12;
    for &(colour, label) in entries.iter().rev() {
        let (text_width, _) = strip.estimate_text_size(label, &TextStyle::from(font.clone()))?;
        x -= text_width as i32;
        strip.draw(&Text::new(label.to_string(), (x, 29), font.clone()))?;
        x -= 18;
        strip.draw(&Rectangle::new([(x, 29), (x + 12, 41)], colour.filled()))?;
        x -= 16;
    }
    Ok(rest)
}

/// The summary: one horizontal bar per figure, from the parity line to its speedup, on a log
/// scale; labelled with what it compares and the speedup.
fn summary(area: &Area<'_>, figures: &[Figure], runs: usize) -> Result<(), Failure> {
    let runs = if runs == 1 {
        "one run".to_string()
    } else {
        format!("medians of {runs} runs")
    };
    let area = title_strip(
        area,
        "pipework beside its raw baseline, measured in the same run",
        &format!(
            "speedup, log scale: right of the 1× line pipework is faster, left of it slower \
             ({runs})"
        ),
        &[
            (OURS, "pipework faster"),
            (SLOWER, "pipework slower"),
            (PARITY, "parity (1×)"),
        ],
    )?;
    let n = figures.len();
    let label = |f: &Figure| format!("{} {} (vs {})", f.mechanism, f.metric, f.baseline);
    let longest = figures.iter().map(|f| label(f).len()).max().unwrap_or(0);
    let (lo, hi) = log_range(figures.iter().map(|f| f.speedup));
    // Figure i is the row centred on y = n - 1 - i: the first at the top, one label per row.
    let mut chart = ChartBuilder::on(&area)
        .margin_left(8)
        .margin_right(24)
        .margin_bottom(6)
        .x_label_area_size(34)
        .y_label_area_size((longest as u32 * 7 + 16).min(460))
        .build_cartesian_2d((lo..hi).log_scale(), -0.5..n as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("speedup over the baseline (log scale)")
        .x_label_formatter(&|v| format!("{}×", trim(*v)))
        .y_labels(n)
        .y_label_formatter(&|y| {
            let row = n - 1 - (y.round().max(0.0) as usize).min(n - 1);
            label(&figures[row])
        })
        .y_label_style(("sans-serif", 12))
        .draw()?;
    let y_of = |i: usize| (n - 1 - i) as f64;
    chart.draw_series(figures.iter().enumerate().map(|(i, f)| {
        let colour = if f.speedup >= 1.0 { OURS } else { SLOWER };
        let y = y_of(i);
        Rectangle::new([(1.0, y - 0.32), (f.speedup, y + 0.32)], colour.filled())
    }))?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, -0.5), (1.0, n as f64 - 0.5)],
        PARITY.stroke_width(2),
    )))?;
    let font = ("sans-serif", 12).into_font();
    chart.draw_series(figures.iter().enumerate().map(|(i, f)| {
        let y = y_of(i);
        let (x, h) = if f.speedup >= 1.0 {
            (f.speedup * 1.06, HPos::Left)
        } else {
            (f.speedup / 1.06, HPos::Right)
        };
        let style = TextStyle::from(font.clone()).pos(Pos::new(h, VPos::Center));
        Text::new(format!("{}×", speedup_text(f.speedup)), (x, y), style)
    }))?;
    Ok(())
}

/// One metric: pipework's bar beside its baseline's for every mechanism measured on it.
fn per_metric(area: &Area<'_>, metric: &str, unit: &str, rows: &[&Figure]) -> Result<(), Failure> {
    let better = if rows.first().is_some_and(|f| f.higher_is_better) {
        "higher is better"
    } else {
        "lower is better"
    };
    let unit_shown = display_unit(unit);
    let area = title_strip(
        area,
        metric,
        &format!("{unit_shown}, {better}"),
        &[(OURS, "pipework"), (BASELINE, "baseline")],
    )?;
    let top = rows
        .iter()
        .map(|f| f.value.max(f.baseline_value))
        .fold(0.0, f64::max)
        * 1.22;
    // Mechanism i is the group centred on x = i, one label per group.
    let n = rows.len();
    let mut chart = ChartBuilder::on(&area)
        .margin_left(8)
        .margin_right(16)
        .margin_bottom(6)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..top.max(f64::MIN_POSITIVE))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(unit_shown)
        .y_label_formatter(&|v| axis_number(*v))
        .x_labels(n)
        .x_label_formatter(&|x| {
            let f = rows[(x.round().max(0.0) as usize).min(n - 1)];
            format!(
                "{} vs {}: {}×",
                f.mechanism,
                f.baseline,
                speedup_text(f.speedup)
            )
        })
        .x_label_style(("sans-serif", 11))
        .draw()?;
    let bar = |x0: f64, value: f64, colour: RGBColor| {
        Rectangle::new([(x0, 0.0), (x0 + 0.36, value)], colour.filled())
    };
    chart.draw_series(
        rows.iter()
            .enumerate()
            .map(|(i, f)| bar(i as f64 - 0.38, f.value, OURS)),
    )?;
    chart.draw_series(
        rows.iter()
            .enumerate()
            .map(|(i, f)| bar(i as f64 + 0.02, f.baseline_value, BASELINE)),
    )?;
    let style =
        TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(rows.iter().enumerate().flat_map(|(i, f)| {
        [
            (i as f64 - 0.20, f.value),
            (i as f64 + 0.20, f.baseline_value),
        ]
        .map(|(x, v)| Text::new(display_value(v, unit), (x, v + top * 0.01), style.clone()))
    }))?;
    Ok(())
}

/// A log-scale range holding 1 and every value, widened past whole powers of ten, with room
/// for the labels beside the bars' ends.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (1.0f64, 1.0f64);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    // A little beyond the powers of ten, so that their labels are inside the axis.
    (
        10f64.powf((lo / 1.6).log10().floor()) * 0.8,
        10f64.powf((hi * 1.6).log10().ceil()) * 1.25,
    )
}

/// A speedup as the table shows it: three significant digits.
fn speedup_text(speedup: f64) -> String {
    if speedup >= 100.0 {
        format!("{speedup:.0}")
    } else if speedup >= 10.0 {
        format!("{speedup:.1}")
    } else {
        format!("{speedup:.2}")
    }
}

/// An axis number: thousands as `k`, else without trailing zeros (`0.5`, `10`, `250k`).
fn axis_number(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{}k", trim(v / 1000.0))
    } else {
        trim(v)
    }
}

/// An axis value without trailing zeros (`0.5`, `10`, `2.25`).
fn trim(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The named-pipe scaling workload (`pipework bench --scale --plot FILE.svg`): four charts of a
/// server's cost against its number of clients (log scale), pipework's async named-pipe server
/// beside a raw tokio Unix-socket server, medians of `runs` runs.
pub fn draw_scale(path: &Path, points: &[super::scale::Point], runs: usize) -> io::Result<()> {
    if points.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "nothing to plot",
        ));
    }
    let root = SVGBackend::new(path, (WIDTH, 2 * METRIC_HEIGHT + 80)).into_drawing_area();
    root.fill(&WHITE).map_err(io::Error::other)?;
    let failed = |e: Failure| io::Error::other(e.to_string());
    let runs = if runs == 1 {
        "one run".to_string()
    } else {
        format!("medians of {runs} runs")
    };
    let rest = title_strip(
        &root,
        "an async named-pipe server's cost as its clients grow",
        &format!(
            "pipework's tokio named-pipe server beside a raw tokio Unix-socket server, each \
             client one 64-byte request at a time ({runs})"
        ),
        &[(OURS, "pipework"), (BASELINE, "raw tokio unix socket")],
    )
    .map_err(failed)?;
    let cells = rest.split_evenly((2, 2));
    type Pick = fn(&super::scale::Point) -> (f64, f64);
    let charts: [(&str, &str, Pick); 4] = [
        ("aggregate requests/s (higher is better)", "req/s", |p| {
            p.requests_per_s
        }),
        ("p99 round trip, µs (lower is better)", "us", |p| p.p99_us),
        (
            "server memory per idle client, KiB (lower is better)",
            "KiB",
            |p| p.kib_per_client,
        ),
        (
            "connections/s: open, one request, close (higher is better)",
            "conn/s",
            |p| p.connections_per_s,
        ),
    ];
    for (area, (title, unit, pick)) in cells.iter().zip(charts) {
        scale_chart(area, title, unit, points, pick).map_err(failed)?;
    }
    root.present().map_err(io::Error::other)
}

fn scale_chart(
    area: &Area<'_>,
    title: &str,
    unit: &str,
    points: &[super::scale::Point],
    pick: fn(&super::scale::Point) -> (f64, f64),
) -> Result<(), Failure> {
    let values: Vec<(f64, (f64, f64))> =
        points.iter().map(|p| (p.clients as f64, pick(p))).collect();
    let top = values
        .iter()
        .flat_map(|(_, (a, b))| [*a, *b])
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.15;
    let x_max = values.last().map_or(10.0, |(n, _)| *n) * 2.0;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 14))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d((0.5f64..x_max).log_scale(), 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("concurrent clients (log scale)")
        .x_label_formatter(&|v| axis_number(*v))
        .y_label_formatter(&|v| axis_number(*v))
        .draw()?;
    for (colour, of) in [
        (BASELINE, (|v: (f64, f64)| v.1) as fn((f64, f64)) -> f64),
        (OURS, |v: (f64, f64)| v.0),
    ] {
        let line: Vec<(f64, f64)> = values
            .iter()
            .map(|(n, v)| (*n, of(*v)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        chart.draw_series(std::iter::once(PathElement::new(
            line.clone(),
            colour.stroke_width(3),
        )))?;
        chart.draw_series(
            line.iter()
                .map(|&(n, v)| Circle::new((n, v), 4, colour.filled())),
        )?;
    }
    let style =
        TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(
        values
            .iter()
            .filter(|(_, v)| v.0.is_finite())
            .map(|(n, v)| {
                Text::new(
                    display_value(v.0, unit),
                    (*n, v.0 + top * 0.02),
                    style.clone(),
                )
            }),
    )?;
    Ok(())
}
