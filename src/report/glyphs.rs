//! PNG text as typed. plotters' bitmap text (its `ab_glyph` font backend) places each
//! glyph's outline at the pen position without the glyph's left side bearing, so narrow
//! glyphs drift: `203.0.113.66` read `203·0·113·66`, `AUTH_002` read `AUTH _002`. This
//! backend wraps the bitmap backend and draws text itself with `ab_glyph` (the crate
//! plotters uses, the same embedded font): each outline at the pen position plus its
//! bearing, kerned, with plotters' own anchors, rotation and layout box, so nothing else
//! about the chart moves.
//!
//! Lines wider than a pixel are drawn segment by segment: the bitmap backend outlines a
//! whole polyline with mitred corners and no miter limit, so at a spike (0, 5, 0 over
//! three windows) each corner became a long thin wedge, drawn past the plot, over the
//! axis labels and into the panel below. Everything else is the bitmap backend's.

use ab_glyph::{Font as _, FontRef, ScaleFont as _};
use plotters::backend::BitMapBackend;
use plotters_backend::{
    text_anchor::{HPos, VPos},
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

/// The bitmap backend, with text drawn glyph by glyph (see the module documentation).
pub struct GlyphBackend<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> GlyphBackend<'a> {
    /// `font`: the TrueType bytes of the charts' font (the one registered with plotters).
    pub fn new(inner: BitMapBackend<'a>, font: &'static [u8]) -> GlyphBackend<'a> {
        GlyphBackend {
            inner,
            font: FontRef::try_from_slice(font).expect("the embedded font parses"),
        }
    }
}

/// Each glyph's coverage at `(x, y)` from the text's top left, in pixels, for `text` at
/// `size` (plotters' font size: the scale of ab_glyph), on plotters' baseline (`size / 2`
/// below the top).
pub fn rasterize(font: &FontRef<'_>, size: f32, text: &str, mut put: impl FnMut(i32, i32, f32)) {
    let scaled = font.as_scaled(size);
    let mut pen = 0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        prev = Some(id);
        // Every glyph on one baseline (`size / 2`, as plotters places it): the outline's
        // pixel bounds are then whole pixels of one grid, so a dot sits on the line and
        // not a pixel above it (rounding each glyph's top on its own raised short ones).
        let glyph = id.with_scale_and_position(size, ab_glyph::point(pen, size / 2.0));
        if let Some(outline) = scaled.outline_glyph(glyph) {
            let b = outline.px_bounds();
            let (left, top) = (b.min.x as i32, b.min.y as i32);
            outline.draw(|x, y, a| put(left + x as i32, top + y as i32, a));
        }
        pen += scaled.h_advance(id);
    }
}

impl DrawingBackend for GlyphBackend<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        if style.stroke_width() <= 1 {
            return self.inner.draw_path(path, style);
        }
        // Each segment on its own: no corners to mitre (see the module documentation).
        let mut points = path.into_iter();
        let Some(mut from) = points.next() else {
            return Ok(());
        };
        for to in points {
            self.inner.draw_path([from, to], style)?;
            from = to;
        }
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    /// plotters' own text placement (layout box, anchor, rotation), glyphs drawn by
    /// [`rasterize`].
    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let (w, h) = self.get_size();
        let mut result = Ok(());
        let font = self.font.clone();
        rasterize(&font, style.size() as f32, text, |x, y, a| {
            if result.is_err() {
                return;
            }
            let (x, y) = trans.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                let c = BackendColor {
                    alpha: color.alpha * f64::from(a),
                    rgb: color.rgb,
                };
                result = self.inner.draw_pixel((x, y), c);
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// plotters' placement, for comparison: each glyph's top at `size / 2` plus its own
    /// bounds' top, truncated glyph by glyph.
    fn plotters_placement(
        font: &FontRef<'_>,
        size: f32,
        text: &str,
        mut put: impl FnMut(i32, i32, f32),
    ) {
        let scaled = font.as_scaled(size);
        let mut pen = 0f32;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(q) = scaled.outline_glyph(scaled.scaled_glyph(c)) {
                let top = (size / 2.0 + q.px_bounds().min.y) as i32;
                q.draw(|x, y, a| put(pen as i32 + x as i32, top + y as i32, a));
            }
            pen += scaled.h_advance(id);
        }
    }

    /// The lowest inked row of each glyph of a three-glyph string, and the gaps between
    /// the glyphs' inked columns.
    /// `None` when the glyphs' ink does not fall into three runs (two touch).
    fn measure(draw: impl Fn(&mut dyn FnMut(i32, i32, f32))) -> Option<(Vec<i32>, (i32, i32))> {
        let mut ink: Vec<(i32, i32)> = Vec::new();
        draw(&mut |x, y, a| {
            if a > 0.3 {
                ink.push((x, y));
            }
        });
        let mut cols: Vec<i32> = ink.iter().map(|p| p.0).collect();
        cols.sort_unstable();
        cols.dedup();
        let mut runs: Vec<(i32, i32)> = Vec::new();
        for x in cols {
            match runs.last_mut() {
                Some(r) if r.1 + 1 == x => r.1 = x,
                _ => runs.push((x, x)),
            }
        }
        if runs.len() != 3 {
            return None;
        }
        let bottoms = runs
            .iter()
            .map(|r| {
                ink.iter()
                    .filter(|p| p.0 >= r.0 && p.0 <= r.1)
                    .map(|p| p.1)
                    .max()
                    .unwrap()
            })
            .collect();
        Some((bottoms, (runs[1].0 - runs[0].1, runs[2].0 - runs[1].1)))
    }

    /// Text reads as typed: a dot sits on the line of its digits (its lowest row is
    /// theirs) and apart from both, midway, at every label size the charts use;
    /// plotters' own placement raises it or pushes it against the digit before at some of
    /// them (`203·0·113·66`).
    #[test]
    fn dots_sit_on_the_line_and_midway() {
        let font = FontRef::try_from_slice(super::super::chart::FONT).unwrap();
        let mut plotters_fails = false;
        for size in [12.0, 13.0, 14.0, 16.0, 20.0] {
            for text in ["3.0", "6.2", "0.9"] {
                let (bottoms, (l, r)) = measure(|put| rasterize(&font, size, text, put))
                    .unwrap_or_else(|| panic!("{text} at {size}: the dot touches a digit"));
                assert_eq!(bottoms[1], bottoms[0], "{text} at {size}: {bottoms:?}");
                assert_eq!(bottoms[1], bottoms[2], "{text} at {size}: {bottoms:?}");
                assert!((l - r).abs() <= 1, "{text} at {size}: gaps {l} and {r}");
                plotters_fails |= match measure(|put| plotters_placement(&font, size, text, put)) {
                    Some((old, (l, r))) => old[1] < old[0] || (l - r).abs() > 1,
                    None => true,
                };
            }
        }
        assert!(plotters_fails, "the placement this replaces is what fails");
    }
}
