//! Message traces: any bytes are decoded and read, or refused; every row read or reported
//! malformed names a line the file has; and CSV fields read back the same when written out
//! again as `Export-Csv` writes them.

use doorman_msgtrace::{csv, read};

pub fn check(input: &[u8]) {
    let Ok(text) = read::decode(input) else { return };
    let lines = text.split('\n').count();
    if let Ok(trace) = read::read(&text) {
        for m in &trace.messages {
            assert!((1..=lines).contains(&m.line), "a message on line {} of {lines}", m.line);
        }
        for m in &trace.malformed {
            assert!((1..=lines).contains(&m.line), "a malformed row on line {} of {lines}", m.line);
            assert!(!m.why.is_empty());
        }
    }
    if let Ok(records) = csv::parse(&text) {
        let mut last = 0;
        for (line, _) in &records {
            assert!(*line > last && *line <= lines, "record lines {last} then {line} of {lines}");
            last = *line;
        }
        let written: String = records.iter().map(|(_, fields)| write_record(fields)).collect();
        let again: Vec<Vec<String>> =
            csv::parse(&written).expect("written CSV parses").into_iter().map(|(_, f)| f).collect();
        let fields: Vec<Vec<String>> = records.into_iter().map(|(_, f)| f).collect();
        assert_eq!(again, fields, "CSV fields written and read again changed");
    }
}

/// One record as `Export-Csv` writes it: every field quoted, quotes doubled, CRLF.
fn write_record(fields: &[String]) -> String {
    let quoted: Vec<String> = fields.iter().map(|f| format!("\"{}\"", f.replace('"', "\"\""))).collect();
    format!("{}\r\n", quoted.join(","))
}
