// SPDX-License-Identifier: GPL-2.0
//! Draws the plot in a process that never loads a font, as on a machine
//! without one: text needs a font, and the plot without text must not.

use std::path::PathBuf;

use bench::fixtures::report;
use bench::plot;

#[test]
fn without_a_font_only_the_plot_without_text_can_be_drawn() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-no-font");
    std::fs::create_dir_all(&dir).unwrap();

    let bare = dir.join("bare.png");
    plot::draw(&report(), &bare, false).unwrap();
    assert!(std::fs::read(&bare).unwrap().starts_with(b"\x89PNG"));

    // This is why the tool checks for a font first: plotters cannot draw
    // text without one.
    assert!(plot::draw(&report(), &dir.join("text.png"), true).is_err());
}
