//! `pipework bench --plot FILE.svg`: one bar chart per metric, pipework beside its baseline for
//! every mechanism, with the speedup written over each pair.

use std::io;
use std::path::Path;

use plotters::prelude::*;

use super::Figure;

const OURS: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const BASELINE: RGBColor = RGBColor(0xbb, 0xbb, 0xbb);

/// Draws `figures` into the SVG file `path`.
pub fn draw(path: &Path, figures: &[Figure]) -> io::Result<()> {
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
    let height = 340 * metrics.len() as u32;
    let root = SVGBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE).map_err(io::Error::other)?;
    for (area, &(metric, unit)) in root.split_evenly((metrics.len(), 1)).iter().zip(&metrics) {
        let rows: Vec<&Figure> = figures
            .iter()
            .filter(|f| f.metric == metric && f.unit == unit)
            .collect();
        chart(area, metric, unit, &rows).map_err(|e| io::Error::other(e.to_string()))?;
    }
    root.present().map_err(io::Error::other)
}

fn chart(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    metric: &str,
    unit: &str,
    rows: &[&Figure],
) -> Result<(), Box<dyn std::error::Error>> {
    let top = rows
        .iter()
        .map(|f| f.value.max(f.baseline_value))
        .fold(0.0, f64::max)
        * 1.25;
    let better = if rows.first().is_some_and(|f| f.higher_is_better) {
        "higher is better"
    } else {
        "lower is better"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{metric} ({unit}, {better})"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(10)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..rows.len() as f64, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc(unit)
        .draw()?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, f)| {
            let x = i as f64;
            Rectangle::new([(x + 0.12, 0.0), (x + 0.48, f.value)], OURS.filled())
        }))?
        .label("pipework")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], OURS.filled()));
    chart
        .draw_series(rows.iter().enumerate().map(|(i, f)| {
            let x = i as f64;
            Rectangle::new(
                [(x + 0.52, 0.0), (x + 0.88, f.baseline_value)],
                BASELINE.filled(),
            )
        }))?
        .label("baseline")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BASELINE.filled()));
    chart.draw_series(rows.iter().enumerate().map(|(i, f)| {
        Text::new(
            format!("{} vs {}: {:.2}x", f.mechanism, f.baseline, f.speedup),
            (i as f64 + 0.12, top * 0.97),
            ("sans-serif", 14),
        )
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
