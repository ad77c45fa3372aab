//! A PowerShell tokenizer for the subset doorman writes, strict about everything else, and the
//! commands applied to an export as Exchange Online would apply them. No `pwsh` ships in
//! the registries this project builds from, so the generated scripts are checked here: every
//! line is a comment or a command whose only strings are single-quoted literals.

#![allow(dead_code)]

use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    Cmdlet(String),
    Param(String),
    Literal(String),
    /// `$true`, `$false` or `$null`: the only variables allowed.
    Constant(String),
    Comma,
}

const QUOTES: [char; 5] = ['\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}'];

/// Tokenizes one command.
pub fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut all = tokenize_script(line)?;
    match all.len() {
        1 => Ok(all.remove(0)),
        n => Err(format!("{n} commands in {line:?}")),
    }
}

/// Tokenizes a script: commands end at a line break outside a literal, and a line that starts
/// with `#` is a comment. A single-quoted literal may span lines, as in PowerShell. Anything
/// PowerShell would expand or treat as syntax outside a literal (`$x`, `$(…)`, `` ` ``, `"`,
/// `;`, `|`, `&`, `(`, `{`, `@`, `<`, `>`, `#`) is an error.
pub fn tokenize_script(script: &str) -> Result<Vec<Vec<Token>>, String> {
    let chars: Vec<char> = script.chars().collect();
    let mut commands = Vec::new();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' || c == '\r' {
            if !out.is_empty() {
                commands.push(std::mem::take(&mut out));
            }
            i += 1;
        } else if c == '#' && out.is_empty() {
            while i < chars.len() && chars[i] != '\n' && chars[i] != '\r' {
                i += 1;
            }
        } else if c == ' ' {
            i += 1;
        } else if QUOTES.contains(&c) {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else { return Err(format!("unterminated literal in {script:?}")) };
                if QUOTES.contains(&d) {
                    if chars.get(i + 1).is_some_and(|n| QUOTES.contains(n)) {
                        s.push(d);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                s.push(d);
                i += 1;
            }
            out.push(Token::Literal(s));
        } else if c == ',' {
            out.push(Token::Comma);
            i += 1;
        } else if c == '$' {
            let word: String = chars[i + 1..].iter().take_while(|c| c.is_ascii_alphanumeric()).collect();
            if !["true", "false", "null"].contains(&word.as_str()) {
                return Err(format!("${word} would be expanded in {script:?}"));
            }
            i += 1 + word.len();
            out.push(Token::Constant(word));
        } else if c == '-' && out.last().is_some_and(|t| !matches!(t, Token::Comma)) {
            let word: String = chars[i + 1..].iter().take_while(|c| c.is_ascii_alphanumeric()).collect();
            if word.is_empty() {
                return Err(format!("a bare - in {script:?}"));
            }
            i += 1 + word.len();
            if chars.get(i) == Some(&':') {
                i += 1;
            }
            out.push(Token::Param(word));
        } else if out.is_empty() && c.is_ascii_alphabetic() {
            let word: String = chars[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '-').collect();
            i += word.len();
            out.push(Token::Cmdlet(word));
        } else {
            return Err(format!("{c:?} outside a literal in {script:?}"));
        }
    }
    if !out.is_empty() {
        commands.push(out);
    }
    Ok(commands)
}

/// The commands of `script`, which must be comments and commands only ([`tokenize_script`]).
pub fn commands(script: &str) -> Vec<Vec<Token>> {
    tokenize_script(script).unwrap_or_else(|e| panic!("{e}\nin the script:\n{script}"))
}

/// A command's parameters, with a list for each (`'a','b'` is two values).
pub fn params(tokens: &[Token]) -> (String, Vec<(String, Vec<Value>)>) {
    let Token::Cmdlet(cmdlet) = &tokens[0] else { panic!("no cmdlet: {tokens:?}") };
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    for t in &tokens[1..] {
        match t {
            Token::Param(p) => out.push((p.clone(), Vec::new())),
            Token::Literal(s) => out.last_mut().expect("a value after a parameter").1.push(json!(s)),
            Token::Constant(c) => out.last_mut().expect("a value after a parameter").1.push(match c.as_str() {
                "true" => json!(true),
                "false" => json!(false),
                _ => Value::Null,
            }),
            Token::Comma => {}
            Token::Cmdlet(c) => panic!("a second cmdlet {c}"),
        }
    }
    (cmdlet.clone(), out)
}

/// `items` as a JSON array, whether PowerShell wrote a bare object, an array or null.
fn as_list(v: &mut Value) -> &mut Vec<Value> {
    if !v.is_array() {
        let old = v.take();
        *v = if old.is_null() { json!([]) } else { json!([old]) };
    }
    v.as_array_mut().unwrap()
}

fn one(values: &[Value]) -> Value {
    if values.len() == 1 { values[0].clone() } else { Value::Array(values.to_vec()) }
}

/// Applies one command to a ScubaGear-shaped export, as Exchange Online would.
pub fn apply(export: &mut Value, tokens: &[Token]) {
    let (cmdlet, params) = params(tokens);
    let get = |name: &str| params.iter().find(|(p, _)| p.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let identity = get("Identity").map(|v| v[0].as_str().unwrap().to_string());
    match cmdlet.as_str() {
        "New-InboundConnector" => {
            let mut c = json!({"Enabled": true});
            for (p, v) in &params {
                c[p] = one(v);
            }
            as_list(&mut export["inbound_connectors"]).push(c);
        }
        "Set-InboundConnector" => {
            let id = identity.unwrap();
            let c = as_list(&mut export["inbound_connectors"])
                .iter_mut()
                .find(|c| c["Name"] == id.as_str())
                .unwrap_or_else(|| panic!("no connector {id:?}"));
            for (p, v) in params.iter().filter(|(p, _)| p != "Identity") {
                c[p] = one(v);
            }
        }
        "Set-OrganizationConfig" => {
            let org = &mut as_list(&mut export["org_config"])[0];
            for (p, v) in &params {
                org[p] = one(v);
            }
        }
        "Set-TransportRule" | "Disable-TransportRule" => {
            let id = identity.unwrap();
            let r = as_list(&mut export["transport_rule"])
                .iter_mut()
                .find(|r| r["Name"] == id.as_str())
                .unwrap_or_else(|| panic!("no rule {id:?}"));
            if cmdlet == "Disable-TransportRule" {
                r["State"] = json!("Disabled");
            }
            for (p, v) in params.iter().filter(|(p, _)| p != "Identity" && p != "Confirm") {
                r[p] = one(v);
            }
        }
        other => panic!("unexpected cmdlet {other}"),
    }
}
