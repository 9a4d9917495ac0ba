//! Plain-text tables with aligned columns, as HashiCorp's CLIs print them: a header row in
//! capitals, columns separated by two spaces, no trailing spaces.

/// A table being built row by row.
#[derive(Debug, Clone)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        let width = self.rows[0].len();
        let mut cells = cells;
        cells.resize(width, String::new());
        self.rows.push(cells);
        self
    }

    /// The rows below the header.
    pub fn len(&self) -> usize {
        self.rows.len() - 1
    }

    /// Whether there are no rows below the header.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table, each line starting with `indent`, each ending with a newline.
    pub fn render(&self, indent: &str) -> String {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = indent.to_owned();
            for (c, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if c + 1 < columns {
                    let pad = widths[c] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_have_no_trailing_space() {
        let mut t = Table::new(&["A", "LONGER", "C"]);
        t.row(vec!["xyz".into(), "1".into(), String::new()]);
        t.row(vec!["q".into()]);
        assert_eq!(
            t.render("  "),
            "  A    LONGER  C\n  xyz  1\n  q\n",
            "short rows are padded with empty cells"
        );
        assert_eq!(t.len(), 2);
    }
}
