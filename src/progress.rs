//! Progress of long commands (`kat db import`): a bar with rows done, rate and time left at a
//! terminal; nothing while it runs when piped, so logs get only the one-line summaries.

use crate::database::import::{Imported, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub struct Bar {
    unit: &'static str,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    /// A bar counting `unit`s (e.g. "rows").
    pub fn new(unit: &'static str) -> Bar {
        Bar {
            unit,
            bar: Mutex::new(None),
        }
    }
}

impl Progress for Bar {
    fn start(&self, collection: &str, total: u64) {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template = format!(
            "{{prefix}} [{{bar:30}}] {{human_pos}}/{{human_len}} {} ({{per_sec}}, {{eta}} left)",
            self.unit
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(collection.to_string());
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn advance(&self, rows: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(bar) = b.as_ref() {
                bar.inc(rows);
            }
        }
    }

    fn finish(&self, _done: &Imported) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(bar) = b.take() {
                bar.finish_and_clear();
            }
        }
    }
}
