//! CSV records with the line each starts on. Quoted fields may hold commas, doubled quotes and
//! line breaks, as `Export-Csv` writes them.

/// One record: the line it starts on (1-based) and its fields.
pub type Record = (usize, Vec<String>);

/// The records of `text`, or the line where a quoted field never ends.
pub fn parse(text: &str) -> Result<Vec<Record>, usize> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let (mut line, mut start) = (1usize, 1usize);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, '\n') => {
                line += 1;
                field.push('\n');
            }
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                if !(fields.len() == 1 && fields[0].is_empty()) {
                    out.push((start, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start = line;
                any = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(start);
    }
    // A last line that holds nothing is skipped as every empty line is.
    if any && !(fields.is_empty() && field.is_empty()) {
        fields.push(field);
        out.push((start, fields));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        let text = "\u{feff}\"A\",\"B\"\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",z\r\n\r\nlast,1";
        let got = parse(text).unwrap();
        assert_eq!(got[0], (1, vec!["A".into(), "B".into()]));
        assert_eq!(got[1], (2, vec!["x, y".into(), "say \"hi\"".into()]));
        assert_eq!(got[2], (3, vec!["two\nlines".into(), "z".into()]));
        assert_eq!(got[3], (6, vec!["last".into(), "1".into()]));
        assert_eq!(parse("a,\"open\nb"), Err(1));
        // Found by fuzzing: an empty last line (a lone CR, or `""`) was a record, and the
        // same line anywhere else was not.
        assert_eq!(parse("a\r\n\r"), Ok(vec![(1, vec!["a".into()])]));
        assert_eq!(parse("\"\""), Ok(vec![]));
    }
}
