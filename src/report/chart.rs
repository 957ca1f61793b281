//! The report's charts, drawn by `plotters` into SVG strings inlined in the page. Its
//! SVG backend writes text as SVG `<text>` (the browser picks the font): no font file
//! is needed. Only numbers and fixed words are drawn; names (probes, paths) stay in
//! the HTML, where the template escapes them.

use plotters::prelude::*;

/// A series of a stacked chart: its label and one value per bucket.
pub struct Series {
    pub label: &'static str,
    pub color: RGBColor,
    pub values: Vec<f64>,
}

/// What a chart is drawn over: buckets of equal length from `start_ms`.
pub struct Axis {
    pub start_ms: i64,
    pub bucket_ms: i64,
    pub buckets: usize,
}

impl Axis {
    fn label(&self, x: f64) -> String {
        let ms = self.start_ms + (x * self.bucket_ms as f64) as i64;
        let t = crate::detect::ms_to_time(ms);
        if self.bucket_ms * self.buckets as i64 > 2 * 86_400_000 {
            t.format("%m-%d %H:%M").to_string()
        } else {
            t.format("%H:%M").to_string()
        }
    }
}

const SIZE: (u32, u32) = (880, 260);

/// A line over the buckets: its label, color and values (`None`: a gap).
pub type Line = (&'static str, RGBColor, Vec<Option<f64>>);

/// Bars per bucket, the series stacked on each other; `bands` are shaded spans
/// (bucket offsets, fractional) drawn behind, e.g. outages.
pub fn stacked(axis: &Axis, series: &[Series], bands: &[(f64, f64)], y_label: &str) -> String {
    draw(axis, series, None, bands, y_label)
}

/// `stacked`, with a line drawn over the bars.
pub fn stacked_with_line(
    axis: &Axis,
    series: &[Series],
    line: Line,
    bands: &[(f64, f64)],
    y_label: &str,
) -> String {
    draw(axis, series, Some(&line), bands, y_label)
}

fn draw(
    axis: &Axis,
    series: &[Series],
    line: Option<&Line>,
    bands: &[(f64, f64)],
    y_label: &str,
) -> String {
    let bars = (0..axis.buckets).map(|b| {
        series
            .iter()
            .map(|s| s.values.get(b).copied().unwrap_or(0.0))
            .sum::<f64>()
    });
    let points = line.into_iter().flat_map(|l| l.2.iter().flatten().copied());
    // Room above the highest bar for the legend, a row per series.
    let rows = series.len() + usize::from(line.is_some());
    let top = bars.chain(points).fold(0.0, f64::max).max(1.0) * (1.1 + 0.09 * rows as f64);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        // Drawing into a String cannot fail; a chart that could not be drawn is left
        // out, the numbers beside it stay.
        let _ = draw_into(&root, axis, series, line, bands, top, y_label);
        let _ = root.present();
    }
    svg
}

fn draw_into(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    axis: &Axis,
    series: &[Series],
    line: Option<&Line>,
    bands: &[(f64, f64)],
    top: f64,
    y_label: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..axis.buckets as f64, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(12)
        .y_labels(6)
        .x_label_formatter(&|x| axis.label(*x))
        .y_label_formatter(&|y| short_number(*y))
        .y_desc(y_label)
        .draw()?;
    for &(from, to) in bands {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(from, 0.0), (to, top)],
            RGBColor(220, 38, 38).mix(0.18).filled(),
        )))?;
    }
    let mut base = vec![0.0; axis.buckets];
    for s in series {
        let bars: Vec<Rectangle<(f64, f64)>> = (0..axis.buckets)
            .filter_map(|b| {
                let v = s.values.get(b).copied().unwrap_or(0.0);
                let bottom = base[b];
                base[b] += v;
                (v > 0.0).then(|| {
                    Rectangle::new(
                        [(b as f64 + 0.1, bottom), (b as f64 + 0.9, bottom + v)],
                        s.color.filled(),
                    )
                })
            })
            .collect();
        chart
            .draw_series(bars)?
            .label(s.label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], s.color.filled()));
    }
    if let Some((label, color, values)) = line {
        let color = *color;
        // Each run of known values is its own line: a gap is not drawn across.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (b, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    if let Some(run) = runs.last_mut() {
                        run.push((b as f64 + 0.5, *v));
                    }
                }
                None => runs.push(Vec::new()),
            }
        }
        let mut labelled = false;
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            let drawn =
                chart.draw_series(LineSeries::new(run, color.stroke_width(2)).point_size(2))?;
            if !labelled {
                drawn.label(*label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                });
                labelled = true;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

/// 1234 → "1.2k": axis labels stay short.
fn short_number(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 || v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_text_and_no_external_reference() {
        let axis = Axis {
            start_ms: 0,
            bucket_ms: 3_600_000,
            buckets: 24,
        };
        let svg = stacked(
            &axis,
            &[Series {
                label: "2xx",
                color: RGBColor(22, 163, 74),
                values: (0..24).map(f64::from).collect(),
            }],
            &[(2.0, 3.5)],
            "requests",
        );
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.replace('\n', "").contains(">2xx</text>"), "{svg}");
        assert!(svg.contains("<rect"));
        assert!(!svg.contains("href"), "{svg}");
        let svg = stacked_with_line(
            &axis,
            &[],
            ("p95", RGBColor(0, 0, 0), vec![Some(1.0), None, Some(3.0)]),
            &[],
            "ms",
        );
        assert!(svg.contains("<polyline") || svg.contains("<path"), "{svg}");
        assert_eq!(short_number(12_345.0), "12k");
    }
}
