// SPDX-License-Identifier: GPL-2.0
//! The `--plot` PNG: throughput against message size, both axes
//! logarithmic (sizes span 1 B to 64 KiB, rates three orders of magnitude),
//! a colour per writer:reader ratio, a [`Look`] per channel, and the copy
//! bound. Text needs a font file, read through ab_glyph so nothing depends
//! on fontconfig ([`load_text_font`]); without one the plot has no text.

use std::path::Path;

use plotters::element::{DashedPathElement, DynElement, IntoDynElement};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::options::Ratio;
use crate::report::{format_size, Point, Report};
use crate::throughput::Measurement;

/// Sans fonts looked for, best first, with the Debian package of each.
#[rustfmt::skip]
const FONTS: [(&str, &str); 3] = [
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "fonts-dejavu-core"),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", "fonts-liberation"),
    ("/usr/share/fonts/truetype/freefont/FreeSans.ttf", "fonts-freefont-ttf"),
];

const FAMILY: &str = "sans-serif";
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 800;

/// Registers the font for the plot's text: `given`, which must load, or
/// else the first of [`FONTS`] that is installed. False, with a warning,
/// when the plot has to go without text.
pub fn load_text_font(given: Option<&Path>) -> Result<bool, String> {
    let mut fonts = FONTS.iter().map(|(path, _)| Path::new(path));
    let Some(font) = given.or_else(|| fonts.find(|p| p.is_file())) else {
        let packages = FONTS.map(|(_, package)| package).join(" or ");
        eprintln!("bench: warning: no font found (Debian: {packages}); the plot will have no text");
        return Ok(false);
    };
    let bytes = std::fs::read(font).map_err(|e| format!("{}: {e}", font.display()));
    // plotters keeps fonts by `&'static` reference for the rest of the
    // process; a run loads one, so the leak is that lifetime.
    let loaded = bytes.and_then(|bytes| {
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a TrueType or OpenType font", font.display()))
    });
    match loaded {
        Err(e) if given.is_none() => {
            eprintln!("bench: warning: {e}; the plot will have no text");
            Ok(false)
        }
        result => result.map(|()| true),
    }
}

/// A tick value of the log rate axis (powers of ten) without the trailing
/// zeros of floating-point noise: `1000`, `1`, `0.1`.
fn format_tick(value: f64) -> String {
    if value >= 1.0 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// How a line looks: circbuf read(2) solid with dots, the pipe dashed with
/// triangles, circbuf's mapped consumer dotted with crosses, the copy bound
/// thin and bare. The plot and its legend draw lines alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Look {
    Read,
    Pipe,
    Mapped,
    Bound,
}

type Element<DB, C> = DynElement<'static, DB, C>;

/// One line of the plot: a channel at one writer:reader ratio, or the bound.
struct Line {
    label: String,
    colour: RGBAColor,
    look: Look,
    /// (message size, MB/s) in the order of the sizes.
    points: Vec<(f64, f64)>,
}

impl Line {
    /// Its path through `points`, in the chart's or the legend's coordinates.
    fn path<DB: DrawingBackend, C: Clone + 'static>(&self, points: Vec<C>) -> Element<DB, C> {
        let style = self.colour.stroke_width(match self.look {
            Look::Read => 3,
            Look::Pipe | Look::Mapped => 2,
            Look::Bound => 1,
        });
        match self.look {
            Look::Pipe => DashedPathElement::new(points, 10, 6, style).into_dyn(),
            Look::Mapped => DashedPathElement::new(points, 3, 4, style).into_dyn(),
            Look::Read | Look::Bound => PathElement::new(points, style).into_dyn(),
        }
    }

    /// Its marker at `at`; the bound's draws nothing.
    fn marker<DB: DrawingBackend, C: Clone + 'static>(&self, at: C) -> Element<DB, C> {
        let colour = self.colour;
        match self.look {
            Look::Read => Circle::new(at, 4, colour.filled()).into_dyn(),
            Look::Pipe => TriangleMarker::new(at, 5, colour.filled()).into_dyn(),
            Look::Mapped => Cross::new(at, 6, colour.stroke_width(2)).into_dyn(),
            Look::Bound => PathElement::new([at], TRANSPARENT).into_dyn(),
        }
    }
}

type Pick = fn(&Point) -> Option<Measurement>;

/// The lines of `report`'s points: per ratio, circbuf's (if measured), the
/// pipe's and the mapped consumer's (if measured), in one colour.
fn lines(report: &Report) -> Vec<Line> {
    let mut ratios: Vec<Ratio> = report.points.iter().map(|p| p.ratio).collect();
    // The points come ratio by ratio.
    ratios.dedup();
    let looks: [(Look, &str, Pick); 3] = [
        (Look::Read, "circbuf", |p| p.circbuf),
        (Look::Pipe, "pipe", |p| Some(p.pipe)),
        (Look::Mapped, "circbuf mapped", |p| p.mapped),
    ];
    let mut lines = Vec::new();
    for (i, &ratio) in ratios.iter().enumerate() {
        for (look, name, pick) in looks {
            let at_ratio = report.points.iter().filter(|p| p.ratio == ratio);
            let rates = at_ratio.filter_map(|p| Some((p.size as f64, pick(p)?.mb_per_s)));
            // A log axis has no place for zero.
            let mut points: Vec<(f64, f64)> = rates.filter(|&(_, rate)| rate > 0.0).collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            if look == Look::Pipe || !points.is_empty() {
                lines.push(Line {
                    label: format!("{name} {ratio}"),
                    colour: Palette99::pick(i).to_rgba(),
                    look,
                    points,
                });
            }
        }
    }
    lines
}

/// Draws `report`'s throughput points into a PNG at `path`; with `text`
/// a font must have been loaded with [`load_text_font`].
pub fn draw(report: &Report, path: &Path, text: bool) -> Result<(), String> {
    draw_chart(report, path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn draw_chart(report: &Report, path: &Path, text: bool) -> Result<(), Box<dyn std::error::Error>> {
    if report.points.is_empty() {
        return Err("no throughput points to plot".into());
    }
    let mut sizes: Vec<f64> = report.points.iter().map(|p| p.size as f64).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let (first, last) = (sizes[0] / 1.5, sizes[sizes.len() - 1] * 1.5);
    let mut lines = lines(report);
    let bound = report.copy.bound_mb_s;
    lines.push(Line {
        label: "copy bound (memcpy / 2)".into(),
        colour: BLACK.to_rgba(),
        look: Look::Bound,
        points: vec![(first, bound), (last, bound)],
    });
    let rates = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let rates: Vec<f64> = rates.filter(|&rate| rate > 0.0).collect();
    let low = rates.iter().copied().fold(f64::MAX, f64::min);
    let high = rates.iter().copied().fold(f64::MIN, f64::max);
    let (low, high) = if low <= high { (low, high) } else { (1.0, 1.0) };
    let x_range = (first..last).log_scale().with_key_points(sizes);
    let y_range = (low / 2.0..high * 2.0).log_scale();

    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        let pipe = format_size(report.header.pipe_size.actual);
        let capacity = format_size(report.header.capacity);
        let title = match report.header.device {
            Some(_) => format!("circbuf and pipe throughput (capacity {capacity}, pipe {pipe})"),
            None => format!("pipe throughput (pipe {pipe})"),
        };
        builder
            .caption(title, (FAMILY, 26))
            .x_label_area_size(50)
            .y_label_area_size(80);
    }
    let mut chart = builder.build_cartesian_2d(x_range, y_range)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE);
    if text {
        mesh.x_desc("message size")
            .y_desc("MB/s (10^6 bytes/s)")
            .x_label_formatter(&|x| format_size(x.round() as usize))
            .y_label_formatter(&|y| format_tick(*y))
            .label_style((FAMILY, 16));
    }
    mesh.draw()?;
    for line in &lines {
        let markers = line.points.iter().map(|&at| line.marker(at));
        let path = std::iter::once(line.path(line.points.clone()));
        let series = chart.draw_series(path.chain(markers))?;
        let legend =
            |at| EmptyElement::at(at) + line.path(vec![(0, 0), (40, 0)]) + line.marker((20, 0));
        series.label(&line.label).legend(legend);
    }
    if text {
        // Bottom right: the largest messages are the fastest, so no line
        // runs behind it (top left, the copy bound's would).
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .legend_area_size(50)
            .background_style(WHITE.mix(0.8))
            .label_font((FAMILY, 16))
            .draw()?;
    }
    Ok(root.present()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::report;
    use std::path::PathBuf;

    /// A scratch file for one test, removed with its directory on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("bench-{test}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn png(&self) -> PathBuf {
            self.0.join("plot.png")
        }

        fn holds_png(&self) -> bool {
            std::fs::read(self.png()).is_ok_and(|bytes| bytes.starts_with(b"\x89PNG\r\n\x1a\n"))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn ticks_drop_float_noise() {
        assert_eq!(format_tick(10000.0), "10000");
        assert_eq!(format_tick(1.0000000002), "1");
        assert_eq!(format_tick(0.1), "0.1");
        assert_eq!(format_tick(0.010000000000000002), "0.01");
    }

    #[test]
    fn lines_pair_circbuf_and_pipe_per_ratio() {
        let lines = lines(&report());
        let labels: Vec<&str> = lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "circbuf 1:1",
                "pipe 1:1",
                "circbuf mapped 1:1",
                "circbuf 8:8",
                "pipe 8:8"
            ]
        );
        assert_eq!(lines[2].look, Look::Mapped);
        assert_eq!(
            lines[2].points,
            [(1.0, 1.5), (4096.0, 1350.0), (65536.0, 3000.0)]
        );
        assert_eq!(lines[2].colour, lines[1].colour);
        assert_eq!(
            lines[1].points,
            [(1.0, 1.0), (4096.0, 900.0), (65536.0, 2000.0)]
        );
        assert_eq!(lines[0].colour, lines[1].colour);
        assert_ne!(lines[0].colour, lines[3].colour);
    }

    #[test]
    fn draws_with_text_when_a_font_is_installed() {
        if !load_text_font(None).unwrap() {
            return;
        }
        let scratch = Scratch::new("plot-with-text");
        draw(&report(), &scratch.png(), true).unwrap();
        assert!(scratch.holds_png());
    }

    #[test]
    fn draws_without_text() {
        let scratch = Scratch::new("plot-without-text");
        draw(&report(), &scratch.png(), false).unwrap();
        assert!(scratch.holds_png());
    }

    #[test]
    fn nothing_to_plot_is_an_error() {
        let empty = Report {
            points: vec![],
            ..report()
        };
        let scratch = Scratch::new("plot-empty");
        let err = draw(&empty, &scratch.png(), false).unwrap_err();
        assert!(err.ends_with("no throughput points to plot"), "{err}");
    }
}
