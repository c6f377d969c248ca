//! The plotting helpers: figures as SVG, drawn with plotters from plain
//! values (curves, grids of digits, matrices, layer diagrams). The
//! per-question modules beside this one choose what each figure shows.

use base64::Engine as _;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::data::SIDE;
use crate::recipe::{Network, Recipe};
use crate::study::Study;
use crate::train::{EpochMetrics, History};

pub use plotters::style::colors::BLACK;
pub const TRAIN_COLOUR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
pub const VALIDATION_COLOUR: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const FONT: &str = "sans-serif";
const GRID: RGBColor = RGBColor(225, 225, 225);

/// How the `index`-th line of a plot is told apart without colour, so that
/// it survives greyscale printing: its dash (solid, dashed, dotted; length
/// and gap in pixels) and its marker's outline (circle, triangle, square;
/// pixels around the point).
fn line_style(index: usize) -> ((u32, u32), Vec<(i32, i32)>) {
    match index % 3 {
        0 => ((1000, 1), vec![(-1, -3), (1, -3), (3, -1), (3, 1), (1, 3), (-1, 3), (-3, 1), (-3, -1)]),
        1 => ((8, 5), vec![(0, -4), (4, 3), (-4, 3)]),
        _ => ((2, 4), vec![(-3, -3), (3, -3), (3, 3), (-3, 3)]),
    }
}

/// How a figure writes a class: its number, or its name.
#[derive(Debug, Clone, Default)]
pub struct Classes(pub Option<Vec<String>>);

impl Classes {
    pub fn name(&self, label: impl Into<i64>) -> String {
        let label = label.into();
        self.0.as_ref().and_then(|names| names.get(usize::try_from(label).ok()?).cloned()).unwrap_or_else(|| label.to_string())
    }
}

/// A figure's file name (without extension) and its SVG text.
#[derive(Debug)]
pub struct Figure {
    pub name: String,
    pub svg: String,
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

fn draw(
    name: &str,
    size: (u32, u32),
    paint: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> DrawResult<()>,
) -> anyhow::Result<Figure> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("figure {name}: {e}"))?;
        paint(root.clone()).map_err(|e| anyhow::anyhow!("figure {name}: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("figure {name}: {e}"))?;
    }
    Ok(Figure { name: name.to_owned(), svg })
}

/// `s` at `at` in `size` units and `colour`, anchored there by its `h` and `v` edges.
fn text(s: impl Into<String>, at: (i32, i32), size: u32, colour: &RGBColor, (h, v): (HPos, VPos)) -> Text<'static, (i32, i32), String> {
    Text::new(s.into(), at, (FONT, size).into_font().color(colour).pos(Pos::new(h, v)))
}

const CENTRED: (HPos, VPos) = (HPos::Center, VPos::Center);

/// A grid of digits (grey levels 0..255, 28x28 each) with their labels.
pub fn digit_grid(name: &str, digits: &[(String, &[u8])], columns: usize) -> anyhow::Result<Figure> {
    image_grid(name, digits, columns, SIDE, 3)
}

/// A grid of square grey images (`side` x `side`, levels 0..255, each pixel
/// drawn `cell` units wide), each framed, with their labels. The pixels are
/// one PNG embedded in the SVG (nearest-neighbour upscaled, so that no
/// viewer blurs them); labels and frames stay vector.
pub fn image_grid(name: &str, images: &[(String, &[u8])], columns: usize, side: usize, cell: u32) -> anyhow::Result<Figure> {
    let label_size = 24u32;
    let label_height = if images.iter().all(|(l, _)| l.is_empty()) { 0 } else { label_size };
    let pad = 6u32;
    let tile = side as u32 * cell;
    // A tile is as wide as its longest label (class names, not only digits).
    let longest = images.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0) as u32;
    let label_w = if label_height > 0 { (3 * label_size).max(longest * label_size * 3 / 5 + pad) } else { 0 };
    let (tile_w, tile_h) = ((tile + pad).max(label_w), tile + label_height + pad);
    let rows = images.len().div_ceil(columns) as u32;
    let size = (columns as u32 * tile_w + pad, rows * tile_h + pad);
    // Each image centred in its tile, under its label.
    let inset = (tile_w - pad - tile) / 2;
    let origin = |i: usize| (pad + inset + (i % columns) as u32 * tile_w, pad + (i / columns) as u32 * tile_h);
    let mut canvas = vec![255u8; (size.0 * size.1) as usize];
    for (i, (_, pixels)) in images.iter().enumerate() {
        let (x0, y0) = origin(i);
        for y in 0..tile {
            for x in 0..tile {
                let v = pixels.get((y / cell) as usize * side + (x / cell) as usize).copied().unwrap_or(0);
                canvas[((y0 + y) * size.0 + x0 + x) as usize] = v;
            }
        }
    }
    let png = encode_grey_png(&canvas, size)?;
    let mut figure = draw(name, size, |root| {
        for (i, (label, _)) in images.iter().enumerate() {
            let (x0, y0) = origin(i);
            let (x0, y0, side_px) = (x0 as i32, y0 as i32, tile as i32);
            root.draw(&Rectangle::new([(x0 - 1, y0 - 1), (x0 + side_px, y0 + side_px)], GRID_FRAME.stroke_width(1)))?;
            root.draw(&text(label.clone(), (x0 + side_px / 2, y0 + side_px + 2), label_size, &BLACK, (HPos::Center, VPos::Top)))?;
        }
        Ok(())
    })?;
    let image = format!(
        r#"<image x="0" y="0" width="{}" height="{}" style="image-rendering:pixelated" href="data:image/png;base64,{}"/>"#,
        size.0,
        size.1,
        base64::engine::general_purpose::STANDARD.encode(png)
    );
    // Over the white background, under the frames and labels.
    let at = figure.svg.find("<rect").and_then(|i| figure.svg[i..].find("/>").map(|j| i + j + 2)).unwrap_or(0);
    figure.svg.insert_str(at, &image);
    Ok(figure)
}

/// Frames around image tiles, so that a white tile still shows its edges.
const GRID_FRAME: RGBColor = RGBColor(150, 150, 150);

/// `pixels` (one grey byte each, row by row) of a `width` x `height` image as PNG.
fn encode_grey_png(pixels: &[u8], (width, height): (u32, u32)) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()?;
    Ok(bytes)
}

/// A matrix of counts (rows and columns numbered from 0), each cell shaded
/// by its count on a square-root scale, so that small off-diagonal counts
/// stay visible next to a large diagonal; zeros left blank.
/// Counts in a matrix whose rows and columns are the classes `labels`.
pub fn count_matrix(name: &str, x_label: &str, y_label: &str, counts: &[Vec<u64>], labels: &[String]) -> anyhow::Result<Figure> {
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let cells: Vec<Vec<(f64, String)>> = counts
        .iter()
        .map(|row| row.iter().map(|&n| ((n as f64 / max).sqrt(), if n > 0 { n.to_string() } else { String::new() })).collect())
        .collect();
    matrix(name, x_label, y_label, labels, labels, &cells)
}

/// A matrix of cells, each shaded by its first value (0 to 1) and labelled
/// with its text, under column labels and beside row labels.
pub fn matrix(
    name: &str,
    x_label: &str,
    y_label: &str,
    row_labels: &[String],
    column_labels: &[String],
    cells: &[Vec<(f64, String)>],
) -> anyhow::Result<Figure> {
    let (rows, columns) = (cells.len() as i32, cells.first().map_or(0, Vec::len) as i32);
    let widest =
        cells.iter().flatten().map(|c| c.1.chars().count()).chain(column_labels.iter().map(|l| l.chars().count())).max().unwrap_or(0);
    let (cell_w, cell_h) = (44i32.max(9 * widest as i32 + 10), 44i32);
    let row_label_w = row_labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as i32 * 9 + 16;
    let (left, top) = (40 + row_label_w, 16i32);
    let size = (left + columns * cell_w + 16, top + rows * cell_h + 64);
    draw(name, (size.0 as u32, size.1 as u32), |root| {
        let label = |s: String, x: i32, y: i32, colour: &RGBColor| text(s, (x, y), 15, colour, CENTRED);
        for (r, row) in cells.iter().enumerate() {
            let y = top + r as i32 * cell_h;
            root.draw(&label(row_labels[r].clone(), left - row_label_w / 2 - 4, y + cell_h / 2, &BLACK))?;
            for (c, (shade, value)) in row.iter().enumerate() {
                let x = left + c as i32 * cell_w;
                let fill = TRAIN_COLOUR.mix(shade.clamp(0.04, 1.0));
                root.draw(&Rectangle::new([(x, y), (x + cell_w, y + cell_h)], fill.filled()))?;
                root.draw(&Rectangle::new([(x, y), (x + cell_w, y + cell_h)], GRID.stroke_width(1)))?;
                let ink = if *shade > 0.5 { WHITE } else { BLACK };
                root.draw(&label(value.clone(), x + cell_w / 2, y + cell_h / 2, &ink))?;
            }
        }
        for (c, column) in column_labels.iter().enumerate() {
            root.draw(&label(column.clone(), left + c as i32 * cell_w + cell_w / 2, top + rows * cell_h + 14, &BLACK))?;
        }
        root.draw(&label(x_label.to_owned(), left + columns * cell_w / 2, top + rows * cell_h + 44, &BLACK))?;
        let style = (FONT, 15).into_font().transform(FontTransform::Rotate270).color(&BLACK).pos(Pos::new(CENTRED.0, CENTRED.1));
        root.draw(&Text::new(y_label.to_owned(), (18, top + rows * cell_h / 2), style))?;
        Ok(())
    })
}

/// A layer-by-layer diagram read top to bottom: one box per layer with its
/// kind, `detail` and output shape, boxes of the same kind in the same colour.
pub fn layer_stack(name: &str, layers: &[(String, String, String)]) -> anyhow::Result<Figure> {
    let (w, box_h, gap) = (640i32, 30i32, 12i32);
    let h = 12 + layers.len() as i32 * (box_h + gap);
    let palette = [
        TRAIN_COLOUR,
        VALIDATION_COLOUR,
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x8c, 0x56, 0x4b),
        RGBColor(0x7f, 0x7f, 0x7f),
    ];
    let mut kinds: Vec<&str> = Vec::new();
    draw(name, (w as u32, h as u32), |root| {
        let left = |s: &str, x: i32, y: i32| text(s, (x, y), 15, &BLACK, (HPos::Left, VPos::Center));
        for (i, (kind, detail, shape)) in layers.iter().enumerate() {
            let k = kinds.iter().position(|k| k == kind).unwrap_or_else(|| {
                kinds.push(kind);
                kinds.len() - 1
            });
            let colour = palette[k % palette.len()];
            let y = 6 + i as i32 * (box_h + gap);
            let (x0, x1) = (40, w - 40);
            root.draw(&Rectangle::new([(x0, y), (x1, y + box_h)], colour.mix(0.18).filled()))?;
            root.draw(&Rectangle::new([(x0, y), (x1, y + box_h)], colour.stroke_width(2)))?;
            root.draw(&left(&format!("{kind}  {detail}"), x0 + 10, y + box_h / 2))?;
            root.draw(&left(shape, x1 - 150, y + box_h / 2))?;
            if i + 1 < layers.len() {
                let (x, y1) = (w / 2, y + box_h);
                root.draw(&PathElement::new([(x, y1), (x, y1 + gap - 4)], BLACK.stroke_width(1)))?;
                root.draw(&Polygon::new([(x, y1 + gap), (x - 4, y1 + gap - 6), (x + 4, y1 + gap - 6)], BLACK.filled()))?;
            }
        }
        Ok(())
    })
}

/// A named series of (x, y) points.
pub struct Series<'a> {
    pub label: &'a str,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// Lines with markers over epochs (1, 2, ...), y range fitted to the data.
pub fn curves(name: &str, x_label: &str, y_label: &str, series: &[Series]) -> anyhow::Result<Figure> {
    let x_max = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(1.0, f64::max);
    lines(name, x_label, y_label, series, (0.5, x_max + 0.5), x_max as usize + 1, 0)
}

/// Lines with markers over x in `x_range`, with about `x_ticks` labels of
/// `x_decimals` decimals.
pub fn lines(
    name: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    (x_lo, x_hi): (f64, f64),
    x_ticks: usize,
    x_decimals: usize,
) -> anyhow::Result<Figure> {
    let ys: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|y| y.is_finite()).collect();
    let (y_min, y_max) = padded_range(&ys);
    draw(name, (640, 380), |root| {
        let mut chart =
            ChartBuilder::on(&root).margin(12).x_label_area_size(38).y_label_area_size(58).build_cartesian_2d(x_lo..x_hi, y_min..y_max)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(x_ticks)
            .x_label_formatter(&|x| format!("{x:.*}", x_decimals))
            .y_label_formatter(&|y| format!("{y:.*}", tick_decimals(y_max - y_min)))
            .label_style((FONT, 13))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()?;
        for (index, s) in series.iter().enumerate() {
            let colour = s.colour;
            let ((dash, gap), outline) = line_style(index);
            let sample = outline.iter().map(|&(x, y)| (x + 10, y)).collect::<Vec<_>>();
            // A missing value breaks the line rather than joining its neighbours.
            for (run, points) in s.points.split(|p| !p.1.is_finite()).filter(|run| !run.is_empty()).enumerate() {
                let line = chart.draw_series(DashedLineSeries::new(points.iter().copied(), dash, gap, colour.stroke_width(2)))?;
                if run == 0 {
                    let sample = sample.clone();
                    line.label(s.label).legend(move |at| {
                        EmptyElement::at(at)
                            + DashedPathElement::new(vec![(0, 0), (20, 0)], dash, gap, colour.stroke_width(2))
                            + Polygon::new(sample.clone(), colour.filled())
                    });
                }
                chart.draw_series(points.iter().map(|&p| EmptyElement::at(p) + Polygon::new(outline.clone(), colour.filled())))?;
            }
        }
        let position = emptiest_corner(series, (x_lo, x_hi), (y_min, y_max));
        chart
            .configure_series_labels()
            .position(position)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()?;
        Ok(())
    })
}

/// A horizontal reference line across a plot.
pub struct Reference<'a> {
    pub label: &'a str,
    pub y: f64,
    pub colour: RGBColor,
}

/// Mean ± one standard deviation (`points`: factor, mean, sd) against a
/// log-scaled factor, in percent. The y-range is the data's own; a
/// reference within reach of it is a dashed line labelled at its end, one
/// further away is written at the top or bottom edge with its value and an
/// arrow, instead of stretching the axis. The legend sits below the plot,
/// where it covers nothing.
pub fn log_factor_plot(
    name: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64, f64)],
    references: &[Reference],
) -> anyhow::Result<Figure> {
    let pct = |y: f64| 100.0 * y;
    let (x_lo, x_hi) = points.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (x_lo, x_hi) = (x_lo / 2.0, x_hi * 2.0);
    let data: Vec<f64> = points.iter().flat_map(|p| [pct(p.1 - p.2), pct(p.1 + p.2)]).filter(|y| y.is_finite()).collect();
    let (data_lo, data_hi) = padded_range(&data);
    let reach = (data_hi - data_lo).max(0.1);
    let near = |y: f64| y >= data_lo - reach && y <= data_hi + reach;
    let mut ys = data.clone();
    ys.extend(references.iter().map(|r| pct(r.y)).filter(|&y| near(y)));
    let (y_min, y_max) = padded_range(&ys);
    let legend_height = 34;
    draw(name, (640, 380 + legend_height), |root| {
        let (plot, legend) = root.split_vertically(380);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(38)
            .y_label_area_size(58)
            .build_cartesian_2d((x_lo..x_hi).log_scale(), y_min..y_max)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|x| power_of_ten(*x))
            .y_label_formatter(&|y| format!("{y:.*}", tick_decimals(y_max - y_min)))
            .label_style((FONT, 13))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()?;
        for r in references {
            let y = pct(r.y);
            if near(y) {
                chart.draw_series(DashedLineSeries::new([(x_lo, y), (x_hi, y)], 6, 4, r.colour.stroke_width(2)))?;
                let at = chart.backend_coord(&(x_hi, y));
                plot.draw(&text(format!("{} {y:.2} %", r.label), (at.0 - 4, at.1 - 3), 12, &r.colour, (HPos::Right, VPos::Bottom)))?;
            } else {
                let above = y > y_max;
                let edge = chart.backend_coord(&(x_hi, if above { y_max } else { y_min }));
                let arrow = if above { "\u{2191}" } else { "\u{2193}" };
                let anchor = if above { VPos::Top } else { VPos::Bottom };
                let dy = if above { 4 } else { -4 };
                plot.draw(&text(
                    format!("{arrow} {} {y:.2} % (off the scale)", r.label),
                    (edge.0 - 4, edge.1 + dy),
                    12,
                    &r.colour,
                    (HPos::Right, anchor),
                ))?;
            }
        }
        let colour = VALIDATION_COLOUR;
        chart.draw_series(
            points.iter().map(|&(x, m, sd)| ErrorBar::new_vertical(x, pct(m - sd), pct(m), pct(m + sd), colour.stroke_width(2), 10)),
        )?;
        chart.draw_series(LineSeries::new(points.iter().map(|&(x, m, _)| (x, pct(m))), colour.stroke_width(2)))?;
        chart.draw_series(points.iter().map(|&(x, m, _)| Circle::new((x, pct(m)), 3, colour.filled())))?;
        legend.draw(&PathElement::new([(70, 12), (100, 12)], colour.stroke_width(2)))?;
        legend.draw(&text(
            "mean ± 1 standard deviation over replicates (error bars)",
            (108, 12),
            13,
            &BLACK,
            (HPos::Left, VPos::Center),
        ))?;
        Ok(())
    })
}

/// A log axis's tick as a power of ten: 1e-6 -> "10⁻⁶"; other values as
/// "3.2×10⁻⁵".
fn power_of_ten(x: f64) -> String {
    const SUPERSCRIPTS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let exponent = x.abs().log10().floor() as i32;
    let superscript: String =
        exponent.to_string().chars().map(|c| if c == '-' { '⁻' } else { SUPERSCRIPTS[c.to_digit(10).unwrap_or(0) as usize] }).collect();
    let mantissa = x / 10f64.powi(exponent);
    if (mantissa - 1.0).abs() < 1e-9 { format!("10{superscript}") } else { format!("{mantissa:.1}×10{superscript}") }
}

/// A block diagram of a stack of dense layers: one bar per layer, its height
/// growing with the layer's width, labelled with `labels` (one per layer)
/// and grouped under `groups` (name, first layer, last layer); the layer
/// `highlight` (a code, say) in another colour.
pub fn layer_diagram(
    name: &str,
    widths: &[i64],
    labels: &[String],
    groups: &[(&str, usize, usize)],
    highlight: Option<usize>,
) -> anyhow::Result<Figure> {
    let (w, h) = (720u32, 330u32);
    let step = (w - 80) as i32 / widths.len().max(1) as i32;
    let max = widths.iter().copied().max().unwrap_or(1) as f64;
    let centre = 150i32;
    draw(name, (w, h), |root| {
        let centred = |s: &str, x: i32, y: i32, size: u32| text(s, (x, y), size, &BLACK, CENTRED);
        let x_of = |i: usize| 40 + step / 2 + i as i32 * step;
        for (i, (&width, label)) in widths.iter().zip(labels).enumerate() {
            let half = (20.0 + 100.0 * (width as f64 / max).sqrt()) as i32;
            let x = x_of(i);
            let colour = if Some(i) == highlight { VALIDATION_COLOUR } else { TRAIN_COLOUR };
            root.draw(&Rectangle::new([(x - 14, centre - half), (x + 14, centre + half)], colour.mix(0.35).filled()))?;
            root.draw(&Rectangle::new([(x - 14, centre - half), (x + 14, centre + half)], colour.stroke_width(2)))?;
            root.draw(&centred(&width.to_string(), x, centre, 15))?;
            for (k, line) in label.lines().enumerate() {
                root.draw(&centred(line, x, centre + 128 + 18 * k as i32, 14))?;
            }
            if i + 1 < widths.len() {
                root.draw(&PathElement::new([(x + 16, centre), (x + step - 16, centre)], BLACK.stroke_width(1)))?;
                root.draw(&Polygon::new(
                    [(x + step - 16, centre), (x + step - 24, centre - 5), (x + step - 24, centre + 5)],
                    BLACK.filled(),
                ))?;
            }
        }
        for &(group, first, last) in groups {
            let (x0, x1) = (x_of(first) - 20, x_of(last) + 20);
            root.draw(&PathElement::new([(x0, 22), (x0, 16), (x1, 16), (x1, 22)], BLACK.stroke_width(1)))?;
            root.draw(&centred(group, (x0 + x1) / 2, 8, 14))?;
        }
        Ok(())
    })
}

/// The diagram of a fully connected classifier with `inputs` pixels and
/// `layers` (width, parameters) of dense layers, the last one the softmax
/// output, the others ReLU.
pub fn mlp_diagram(name: &str, inputs: i64, layers: &[(i64, i64)]) -> anyhow::Result<Figure> {
    let widths: Vec<i64> = std::iter::once(inputs).chain(layers.iter().map(|&(w, _)| w)).collect();
    let labels: Vec<String> = std::iter::once("input\n(flattened)".to_owned())
        .chain(layers.iter().enumerate().map(|(i, &(_, parameters))| {
            let activation = if i + 1 == layers.len() { "softmax" } else { "ReLU" };
            format!("dense, {activation}\n{} parameters", thousands(parameters))
        }))
        .collect();
    let hidden = layers.len().saturating_sub(1);
    let groups: Vec<(&str, usize, usize)> = if hidden > 0 { vec![("hidden layers", 1, hidden)] } else { Vec::new() };
    layer_diagram(name, &widths, &labels, &groups, None)
}

/// 55050 -> "55,050"; a negative number with the minus sign (U+2212).
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let grouped: Vec<String> = digits.as_bytes().rchunks(3).rev().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    format!("{}{}", if n < 0 { "\u{2212}" } else { "" }, grouped.join(","))
}

/// The corner of the plot with the fewest points near it, for the legend
/// (right-hand corners first when several are empty).
fn emptiest_corner(series: &[Series], (x_lo, x_hi): (f64, f64), (y_lo, y_hi): (f64, f64)) -> SeriesLabelPosition {
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let near = |right: bool, upper: bool| {
        series
            .iter()
            .flat_map(|s| &s.points)
            .filter(|(x, y)| {
                let (fx, fy) = ((x - x_lo) / (x_hi - x_lo), (y - y_lo) / (y_hi - y_lo));
                (if right { fx > 0.45 } else { fx < 0.55 }) && (if upper { fy > 0.6 } else { fy < 0.4 })
            })
            .count()
    };
    corners.into_iter().min_by_key(|&(_, right, upper)| near(right, upper)).map(|(p, _, _)| p).expect("four corners")
}

/// The data's range with a margin of 8 % on each side.
fn padded_range(ys: &[f64]) -> (f64, f64) {
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let margin = ((hi - lo) * 0.08).max(1e-3);
    (lo - margin, hi + margin)
}

/// Decimals that tell apart the ticks of an axis spanning `span`.
fn tick_decimals(span: f64) -> usize {
    match span {
        s if s >= 20.0 => 0,
        s if s >= 2.0 => 1,
        s if s >= 0.2 => 2,
        _ => 3,
    }
}

/// Training and validation accuracy per epoch of one network.
pub fn history_curves(name: &str, history: &History) -> anyhow::Result<Figure> {
    let points = |f: fn(&EpochMetrics) -> f64| history.epochs.iter().map(|e| (e.epoch as f64, 100.0 * f(e))).collect();
    curves(
        name,
        "epoch",
        "accuracy (%)",
        &[
            Series { label: "training (running mean over the epoch)", colour: TRAIN_COLOUR, points: points(|e| e.train_accuracy) },
            Series { label: "validation (test set, after the epoch)", colour: VALIDATION_COLOUR, points: points(|e| e.val_accuracy) },
        ],
    )
}

/// Training and validation accuracy per epoch, each the mean over a study's
/// seeds; `recipe`, the one its seeds trained, names what training saw.
pub fn study_curves(name: &str, study: &Study, recipe: &Recipe) -> anyhow::Result<Figure> {
    let epochs = study.replicates.first().map_or(0, |r| r.history.epochs.len());
    let mean_curve = |f: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        (0..epochs)
            .map(|e| {
                let values: Vec<f64> = study.replicates.iter().filter_map(|r| r.history.epochs.get(e)).map(f).collect();
                ((e + 1) as f64, 100.0 * values.iter().sum::<f64>() / values.len() as f64)
            })
            .collect()
    };
    let training = training_label(recipe);
    curves(
        name,
        "epoch",
        "accuracy (%, mean over seeds)",
        &[
            Series { label: &training, colour: TRAIN_COLOUR, points: mean_curve(|e| e.train_accuracy) },
            Series { label: "validation", colour: VALIDATION_COLOUR, points: mean_curve(|e| e.val_accuracy) },
        ],
    )
}

/// The training curve's label: what `recipe` does to the training images
/// (shifts, rotations, scalings, elastic bends) and whether its network
/// trains with dropout, "training" alone where it does neither.
fn training_label(recipe: &Recipe) -> String {
    let moves: Vec<&str> = [
        (recipe.max_shift > 0, "shifted"),
        (recipe.max_rotation > 0.0, "rotated"),
        (recipe.max_scale > 0.0, "scaled"),
        (recipe.max_elastic > 0.0, "bent"),
    ]
    .into_iter()
    .filter_map(|(on, word)| on.then_some(word))
    .collect();
    let dropout = match &recipe.network {
        Network::Cnn(cnn) => cnn.dropout,
        Network::Mlp { dropout, .. } => *dropout,
    };
    let mut parts = Vec::new();
    if let Some((last, first)) = moves.split_last() {
        let words = if first.is_empty() { (*last).to_owned() } else { format!("{} and {last}", first.join(", ")) };
        parts.push(format!("{words} images"));
    }
    if dropout > 0.0 {
        parts.push("dropout on".to_owned());
    }
    if parts.is_empty() { "training".to_owned() } else { format!("training ({})", parts.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digit_grid_is_one_embedded_png_with_every_pixel_and_a_framed_labelled_tile() {
        let mut pixels = vec![0u8; SIDE * SIDE];
        pixels[5] = 200;
        pixels[SIDE + 12] = 9;
        let fig = digit_grid("g", &[("7".into(), &pixels), ("1".into(), &pixels)], 2).unwrap();
        assert!(fig.svg.contains(">\n7\n</text>") && fig.svg.contains(">\n1\n</text>"), "{}", fig.svg);
        assert_eq!(fig.svg.matches("<image ").count(), 1, "one raster for the whole grid");
        // The background, and a frame per tile: no rectangle per pixel.
        assert_eq!(fig.svg.matches("<rect").count(), 3);
        let data = fig.svg.split("base64,").nth(1).unwrap().split('"').next().unwrap();
        let png = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
        let mut canvas = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut canvas).unwrap();
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        let width = info.width as usize;
        let (pad, cell) = (6, 3);
        // Pixel (row 0, column 5) of the first tile, 3 x 3 canvas pixels; (1, 12) of the second.
        let second = pad + 2 * pad + SIDE * cell;
        let at = |x: usize, y: usize| canvas[y * width + x];
        assert_eq!((at(pad + 5 * cell, pad), at(pad + 5 * cell + 2, pad + 2)), (200, 200));
        assert_eq!(at(second - pad + 12 * cell, pad + cell), 9);
        assert_eq!((at(pad + 4 * cell, pad), at(0, 0)), (0, 255), "black digit background, white margin");
    }

    #[test]
    fn curves_survive_a_missing_value() {
        let series = [Series { label: "a", colour: TRAIN_COLOUR, points: vec![(1.0, 0.5), (2.0, f64::NAN)] }];
        let fig = curves("c", "epoch", "accuracy", &series).unwrap();
        assert!(fig.svg.starts_with("<svg"));
        assert_eq!(padded_range(&[]), (0.0, 1.0));
        let refs = [Reference { label: "Hinton", y: 0.9847, colour: BLACK }];
        let fig = log_factor_plot("f", "factor", "accuracy", &[(1e-6, 0.98, 0.001), (1e-3, 0.97, 0.002)], &refs).unwrap();
        assert!(fig.svg.contains("Hinton 98.47 %"), "a reference near the data is a labelled line");
        let far = log_factor_plot("f", "factor", "accuracy", &[(1e-6, 0.95, 0.001), (1e-3, 0.951, 0.001)], &refs).unwrap();
        assert!(far.svg.contains("\u{2191} Hinton 98.47 % (off the scale)"), "a far one is written at the edge: {}", far.svg);
        assert!(!far.svg.contains(">\n98.4"), "and does not stretch the axis");
        assert_eq!((power_of_ten(1e-6), power_of_ten(3.2e-5), power_of_ten(100.0)), ("10⁻⁶".into(), "3.2×10⁻⁵".into(), "10²".into()));
    }

    #[test]
    fn each_line_keeps_its_own_dash_and_marker_for_greyscale() {
        let ramp = |k: f64| (0..4).map(|e| (e as f64 + 1.0, 50.0 + k + e as f64)).collect();
        let series = [
            Series { label: "a", colour: TRAIN_COLOUR, points: ramp(0.0) },
            Series { label: "b", colour: VALIDATION_COLOUR, points: ramp(5.0) },
            Series { label: "c", colour: BLACK, points: ramp(10.0) },
        ];
        let svg = curves("c", "epoch", "accuracy (%)", &series).unwrap().svg;
        let polygons_with = |corners: usize| svg.lines().filter(|l| l.starts_with("<polygon") && l.matches(',').count() == corners).count();
        // Four points and one legend sample per line: octagons, triangles, squares.
        assert_eq!((polygons_with(8), polygons_with(3), polygons_with(4)), (5, 5, 5), "{svg}");
        let dashes = |colour: RGBColor| {
            svg.matches(&format!("<polyline fill=\"none\" opacity=\"1\" stroke=\"#{:02X}{:02X}{:02X}\"", colour.0, colour.1, colour.2))
                .count()
        };
        assert!(dashes(TRAIN_COLOUR) < dashes(VALIDATION_COLOUR) && dashes(VALIDATION_COLOUR) < dashes(BLACK), "solid, dashed, dotted");
        assert!(svg.contains(">\n50.0\n<") || svg.contains(">50.0<"), "percent ticks with one decimal: {svg}");
    }

    #[test]
    fn the_legend_goes_where_no_line_runs() {
        let falling = Series { label: "a", colour: TRAIN_COLOUR, points: vec![(0.0, 1.0), (1.0, 0.9), (2.0, 0.5), (3.0, 0.1)] };
        let flat_high = Series { label: "b", colour: TRAIN_COLOUR, points: vec![(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 1.0)] };
        let corner = emptiest_corner(&[falling, flat_high], (0.0, 3.0), (0.0, 1.0));
        assert!(matches!(corner, SeriesLabelPosition::LowerLeft), "{corner:?}");
        let rising = Series { label: "c", colour: TRAIN_COLOUR, points: vec![(0.0, 0.1), (1.0, 0.5), (2.0, 0.9), (3.0, 1.0)] };
        assert!(matches!(emptiest_corner(&[rising], (0.0, 3.0), (0.0, 1.0)), SeriesLabelPosition::LowerRight));
    }

    #[test]
    fn the_training_curve_says_what_its_recipe_does_and_nothing_else() {
        use crate::networks;
        use crate::precision::Precision;
        let cnn = networks::chosen_cnn(Precision::Float32, 1);
        assert_eq!(training_label(&cnn), "training (shifted images, dropout on)");
        assert_eq!(training_label(&Recipe { max_shift: 0, ..cnn.clone() }), "training (dropout on)");
        let without_dropout = match &cnn.network {
            Network::Cnn(c) => Network::Cnn(crate::models::cnn::CnnConfig { dropout: 0.0, ..c.clone() }),
            Network::Mlp { .. } => unreachable!("the chosen network is a CNN"),
        };
        let cnn_without_dropout = Recipe { network: without_dropout, ..cnn };
        assert_eq!(training_label(&cnn_without_dropout), "training (shifted images)");
        assert_eq!(training_label(&Recipe { max_shift: 0, ..cnn_without_dropout }), "training");
        let mlp = networks::wide_mlp(Precision::Float32, 1);
        assert_eq!(training_label(&mlp), "training", "the notebook's recipe: no augmentation, no dropout");
        let tuned = Recipe { max_shift: 2, max_rotation: 10.0, max_scale: 0.1, max_elastic: 1.5, ..mlp.clone() };
        assert_eq!(training_label(&tuned), "training (shifted, rotated, scaled and bent images)");
        let dropout = Network::Mlp { hidden: vec![500, 300], dropout: 0.2, precision: Precision::Float32 };
        assert_eq!(training_label(&Recipe { network: dropout.clone(), ..mlp }), "training (dropout on)");
        let bent = Recipe { max_shift: 0, max_rotation: 0.0, max_scale: 0.0, network: dropout, ..tuned };
        assert_eq!(training_label(&bent), "training (bent images, dropout on)");
    }

    #[test]
    fn a_count_matrix_prints_every_nonzero_count() {
        let counts = vec![vec![97, 0, 3], vec![1, 88, 0], vec![0, 2, 120]];
        let labels: Vec<String> = (0..counts.len()).map(|i| i.to_string()).collect();
        let fig = count_matrix("m", "predicted", "true", &counts, &labels).unwrap();
        for count in ["97", "3", "1", "88", "2", "120"] {
            assert!(fig.svg.contains(&format!(">\n{count}\n</text>")), "{count} missing");
        }
        // Zero counts are left blank: the only "0"s are the row and column labels.
        assert_eq!(fig.svg.matches(">\n0\n</text>").count(), 2);
    }
}
