//! A CSV file read by column name, so that the importers do not depend on column order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::ImportError;

/// The rows of a CSV file with its header.
pub(crate) struct Table {
    path: PathBuf,
    columns: HashMap<String, usize>,
    header: Vec<String>,
    rows: Vec<(u64, csv::StringRecord)>,
    /// Counts the rows as the importers go through them (drawn only at a terminal).
    progress: indicatif::ProgressBar,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table, ImportError> {
        let err = |source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(err)?;
        let header: Vec<String> = reader
            .headers()
            .map_err(err)?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        let columns = header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect();
        let mut rows = Vec::new();
        for rec in reader.records() {
            let rec = rec.map_err(err)?;
            let line = rec.position().map_or(0, |p| p.line());
            rows.push((line, rec));
        }
        let progress = indicatif::ProgressBar::with_draw_target(
            Some(rows.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "placing [{bar:30}] {human_pos}/{human_len} rows ({per_sec}, {eta} left)",
        ) {
            progress.set_style(style.progress_chars("=> "));
        }
        Ok(Table {
            path: path.to_path_buf(),
            columns,
            header,
            rows,
            progress,
        })
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    pub fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// Fails unless every column is present.
    pub fn require(&self, columns: &[&str]) -> Result<(), ImportError> {
        match columns.iter().find(|c| !self.has(c)) {
            Some(c) => Err(ImportError::MissingColumn {
                path: self.path.clone(),
                column: c.to_string(),
            }),
            None => Ok(()),
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |(line, rec)| {
            self.progress.inc(1);
            Row {
                table: self,
                line: *line,
                rec,
            }
        })
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        self.progress.finish_and_clear();
    }
}

/// One row, read by column name.
pub(crate) struct Row<'a> {
    table: &'a Table,
    line: u64,
    rec: &'a csv::StringRecord,
}

impl<'a> Row<'a> {
    /// The trimmed cell ("" when the column or the cell is missing).
    pub fn get(&self, column: &str) -> &'a str {
        self.table
            .columns
            .get(column)
            .and_then(|&i| self.rec.get(i))
            .map_or("", str::trim)
    }

    /// The cell, or `None` when empty.
    pub fn opt(&self, column: &str) -> Option<&'a str> {
        Some(self.get(column)).filter(|s| !s.is_empty())
    }

    /// The cell as a whole number, `None` when empty.
    pub fn int(&self, column: &str) -> Result<Option<i64>, ImportError> {
        self.opt(column)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| self.bad(column, v, "expected a whole number or an empty cell"))
            })
            .transpose()
    }

    /// The cell as a decimal number, `None` when empty.
    pub fn float(&self, column: &str) -> Result<Option<f64>, ImportError> {
        self.opt(column)
            .map(|v| match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(self.bad(column, v, "expected a decimal number or an empty cell")),
            })
            .transpose()
    }

    pub fn bad(&self, column: &str, value: &str, problem: &str) -> ImportError {
        ImportError::Cell {
            path: self.table.path.clone(),
            line: self.line,
            column: column.to_string(),
            value: value.to_string(),
            problem: problem.to_string(),
        }
    }
}
