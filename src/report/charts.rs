//! The report's charts, drawn with plotters' SVG backend: each function returns one `<svg>`
//! element to inline in the HTML report. Text stays text in the SVG (the browser lays it out), so
//! any script prints without font files here.

use anyhow::Result;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::Report;
use crate::taxonomy::Indicator;

const SIZE: (u32, u32) = (1000, 360);
/// Offices drawn in the trend chart: the ones with most ads over the periods shown.
const TREND_OFFICES: usize = 8;

/// Draws into an SVG string with `draw`, which gets the root area.
fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    Ok(out)
}

/// Draws the legend of the labelled series at `position`.
fn legend<'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

fn caption_font() -> TextStyle<'static> {
    ("sans-serif", 20).into_font().color(&BLACK)
}

/// Flagged share per office over the report's period and the ones before it.
pub fn flagged_share_trend(report: &Report) -> Result<String> {
    let periods = &report.trend_periods;
    let mut offices: Vec<(&str, i64)> = Vec::new();
    for p in &report.trend {
        match offices.iter_mut().find(|(o, _)| *o == p.office) {
            Some((_, n)) => *n += p.submitted,
            None => offices.push((&p.office, p.submitted)),
        }
    }
    offices.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    offices.truncate(TREND_OFFICES);
    let top = report
        .trend
        .iter()
        .map(|p| p.flagged as f64 / p.submitted.max(1) as f64)
        .fold(0.0, f64::max);
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Flagged share of submitted ads, per office", caption_font())
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(
                (0..periods.len()).into_segmented(),
                0.0..(top * 1.15).max(0.05),
            )?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .disable_x_mesh()
            .x_labels(periods.len())
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => periods.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .draw()?;
        for (n, (office, _)) in offices.iter().enumerate() {
            let color = Palette99::pick(n).to_rgba();
            let points: Vec<(SegmentValue<usize>, f64)> = report
                .trend
                .iter()
                .filter(|p| p.office == *office && p.submitted > 0)
                .filter_map(|p| {
                    let i = periods.iter().position(|q| *q == p.period)?;
                    Some((
                        SegmentValue::CenterOf(i),
                        p.flagged as f64 / p.submitted as f64,
                    ))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(*office)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Ads per indicator the model flagged, stacked by language, for the report's period.
pub fn indicators_by_language(report: &Report) -> Result<String> {
    let mut langs: Vec<&str> = report
        .indicators_by_lang
        .iter()
        .map(|(l, _, _)| l.as_str())
        .collect();
    langs.dedup();
    let row = |id: &str| Indicator::ALL.iter().position(|i| i.id() == id);
    let mut totals = [0i64; Indicator::ALL.len()];
    for (_, ind, n) in &report.indicators_by_lang {
        if let Some(i) = row(ind) {
            totals[i] += n;
        }
    }
    let max = totals.iter().copied().max().unwrap_or(0).max(1) as f64;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Indicators flagged by the model, per language",
                caption_font(),
            )
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(170)
            .build_cartesian_2d(0.0..max * 1.1, (0..Indicator::ALL.len()).into_segmented())?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .disable_y_mesh()
            .y_labels(Indicator::ALL.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => {
                    Indicator::ALL.get(*i).map_or("", |i| i.id()).to_string()
                }
                _ => String::new(),
            })
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        let mut stacked = [0i64; Indicator::ALL.len()];
        for lang in &langs {
            // A language keeps its colour from report to report, whichever languages are present.
            let n = crate::ingest::Lang::ALL
                .iter()
                .position(|l| l.code() == *lang)
                .unwrap_or(crate::ingest::Lang::ALL.len());
            let color = Palette99::pick(n).to_rgba();
            let bars: Vec<Rectangle<(f64, SegmentValue<usize>)>> = report
                .indicators_by_lang
                .iter()
                .filter(|(l, _, _)| l == lang)
                .filter_map(|(_, ind, count)| {
                    let i = row(ind)?;
                    let from = stacked[i] as f64;
                    stacked[i] += count;
                    let mut bar = Rectangle::new(
                        [
                            (from, SegmentValue::Exact(i)),
                            (stacked[i] as f64, SegmentValue::Exact(i + 1)),
                        ],
                        color.filled(),
                    );
                    bar.set_margin(4, 4, 0, 0);
                    Some(bar)
                })
                .collect();
            chart.draw_series(bars)?.label(*lang).legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
            });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// The analysts' queue size at the start of each week of the period and at its end.
pub fn backlog(report: &Report) -> Result<String> {
    let points = &report.backlog;
    let top = points.iter().map(|p| p.open).max().unwrap_or(0).max(1) as f64;
    let last = points.len().saturating_sub(1).max(1);
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Triage backlog: flagged ads not yet escalated or dismissed",
                caption_font(),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0..last, 0.0..top * 1.15)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_labels(points.len().min(14))
            .x_label_formatter(&|i| {
                points
                    .get(*i)
                    .map_or(String::new(), |p| p.at.format("%b %d").to_string())
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        let color = Palette99::pick(0).to_rgba();
        let line: Vec<(usize, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.open as f64))
            .collect();
        chart.draw_series(
            AreaSeries::new(line.clone(), 0.0, color.mix(0.15)).border_style(color.stroke_width(2)),
        )?;
        chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        Ok(())
    })
}
