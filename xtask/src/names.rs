//! Short import and export names for the shipped wasm (issue 5 point 6, docs/DESIGN.md "Size").
//!
//! wasm-bindgen names every import after the JS function it wraps plus a 16-digit hash
//! (`__wbg_set_onclose_078935cf8d0fb024`) and every export after the Rust item
//! (`uchatbot_onCommand`, `wasm_bindgen__convert__closures_____invoke__h…`). Each name is written
//! twice, in the wasm and in the glue, and the hashes do not compress: about 1.9 KB of the
//! gzipped wasm and 1.1 KB of the gzipped glue. `wasm-opt --minify-imports-and-exports-and-modules`
//! renames them in the wasm (`a`, `b`, …, module `a`) and prints the mapping as JSON; [`rename_glue`]
//! applies that mapping to the glue, and [`import_modules`] reads the new module name from the
//! wasm itself so nothing about binaryen's naming is assumed.

/// The renames `wasm-opt --minify-imports-and-exports-and-modules` printed.
#[derive(Debug, Default, PartialEq)]
pub struct Mapping {
    /// `(module, old name, new name)` of each import.
    pub imports: Vec<(String, String, String)>,
    /// `(old name, new name)` of each export.
    pub exports: Vec<(String, String)>,
}

/// Reads wasm-opt's mapping: `{"imports": [["mod", "old", "new"], …], "exports": [["old",
/// "new"], …]}`. Names are identifiers (no quotes or escapes), which is all wasm-bindgen makes.
/// When wasm-opt runs passes repeatedly it prints one mapping per run; the first one is kept.
pub fn parse_mapping(text: &str) -> Result<Mapping, String> {
    let mut m = Mapping::default();
    let mut section = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("\"imports\"") {
            section = Some(true);
            continue;
        }
        if t.starts_with("\"exports\"") {
            section = Some(false);
            continue;
        }
        if t == "}" && !(m.imports.is_empty() && m.exports.is_empty()) {
            break;
        }
        let Some(inner) = t.strip_prefix('[').map(|r| r.trim_end_matches(',')) else {
            continue;
        };
        let Some(inner) = inner.strip_suffix(']') else {
            continue;
        };
        let parts: Vec<String> = inner
            .split(',')
            .map(|p| {
                let p = p.trim();
                p.strip_prefix('"')
                    .and_then(|p| p.strip_suffix('"'))
                    .map(str::to_owned)
                    .ok_or_else(|| format!("wasm-opt name mapping: cannot read `{t}`"))
            })
            .collect::<Result<_, _>>()?;
        match (section, parts.as_slice()) {
            (Some(true), [module, old, new]) => {
                m.imports.push((module.clone(), old.clone(), new.clone()))
            }
            (Some(false), [old, new]) => m.exports.push((old.clone(), new.clone())),
            _ => return Err(format!("wasm-opt name mapping: unexpected entry `{t}`")),
        }
    }
    if m.imports.is_empty() || m.exports.is_empty() {
        return Err("wasm-opt printed no import/export name mapping".into());
    }
    Ok(m)
}

/// The module names of a wasm binary's imports, in order, without repeats.
pub fn import_modules(wasm: &[u8]) -> Result<Vec<String>, String> {
    let bad = |what: &str| format!("reading the wasm's import section: {what}");
    if wasm.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
        return Err(bad("not a wasm module (version 1)"));
    }
    let mut r = Reader { bytes: wasm, at: 8 };
    while r.at < wasm.len() {
        let id = r.byte().ok_or_else(|| bad("truncated section header"))?;
        let len = r.leb().ok_or_else(|| bad("truncated section size"))? as usize;
        let end = r.at.checked_add(len).filter(|&e| e <= wasm.len());
        let end = end.ok_or_else(|| bad("section runs past the end"))?;
        if id != 2 {
            r.at = end;
            continue;
        }
        let mut modules: Vec<String> = Vec::new();
        let count = r.leb().ok_or_else(|| bad("no import count"))?;
        for _ in 0..count {
            let module = r.name().ok_or_else(|| bad("bad module name"))?;
            r.name().ok_or_else(|| bad("bad import name"))?;
            // Import descriptions (wasm core spec 5.5.5): func typeidx, table reftype+limits,
            // mem limits, global valtype+mut, tag attribute+typeidx.
            match r.byte().ok_or_else(|| bad("no import kind"))? {
                0 => drop(r.leb()),
                1 => {
                    r.byte();
                    r.limits();
                }
                2 => r.limits(),
                3 => {
                    r.byte();
                    r.byte();
                }
                4 => {
                    r.byte();
                    r.leb();
                }
                k => return Err(bad(&format!("unknown import kind {k}"))),
            }
            if !modules.contains(&module) {
                modules.push(module);
            }
        }
        return Ok(modules);
    }
    Ok(Vec::new())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn leb(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn name(&mut self) -> Option<String> {
        let len = self.leb()? as usize;
        let s = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        String::from_utf8(s.to_vec()).ok()
    }

    fn limits(&mut self) {
        let flags = self.byte().unwrap_or(0);
        self.leb();
        if flags & 1 != 0 {
            self.leb();
        }
    }
}

/// The glue `uchat_bot.js` with the names of `m`: each import's key in the imports object
/// (`NAME: function…`, exactly once), each export where the glue reads it (`wasm.NAME`), and the
/// imports object's module key `"OLD": import0` → `"NEW"`. Fails loudly when the glue is not
/// shaped as expected, so a new wasm-bindgen cannot silently ship a module that fails to link.
pub fn rename_glue(glue: &str, m: &Mapping, new_module: &str) -> Result<String, String> {
    let mut out = glue.to_owned();
    let mut old_modules: Vec<&str> = Vec::new();
    for (module, old, new) in &m.imports {
        if !old_modules.contains(&module.as_str()) {
            old_modules.push(module);
        }
        out = replace_key(&out, old, new)?;
    }
    let [old_module] = old_modules.as_slice() else {
        return Err(format!(
            "the wasm imports from {} modules ({}); the glue rename handles exactly one",
            old_modules.len(),
            old_modules.join(", ")
        ));
    };
    let from = format!("\"{old_module}\": import0");
    if out.matches(&from).count() != 1 {
        return Err(format!("uchat_bot.js has no single `{from}`"));
    }
    out = out.replace(&from, &format!("\"{new_module}\": import0"));
    for (old, new) in &m.exports {
        out = replace_member(&out, "wasm.", old, new);
    }
    Ok(out)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// `INDENT old:` at the start of a line → `INDENT new:`; exactly one must exist.
fn replace_key(text: &str, old: &str, new: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut found = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        match body.strip_prefix(old).filter(|r| r.starts_with(':')) {
            Some(rest) if !indent.is_empty() => {
                found += 1;
                out.push_str(indent);
                out.push_str(new);
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
    }
    if found != 1 {
        return Err(format!(
            "uchat_bot.js: the import `{old}` is defined {found} times (expected once as `{old}: function…`)"
        ));
    }
    Ok(out)
}

/// Every `prefix old` not followed by an identifier character → `prefix new`.
fn replace_member(text: &str, prefix: &str, old: &str, new: &str) -> String {
    let pat = format!("{prefix}{old}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(&pat) {
        let after = &rest[i + pat.len()..];
        let before_ok = i == 0 || !is_ident(rest.as_bytes()[i - 1]);
        let after_ok = !after.bytes().next().is_some_and(is_ident);
        out.push_str(&rest[..i]);
        if before_ok && after_ok {
            out.push_str(prefix);
            out.push_str(new);
        } else {
            out.push_str(&pat);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"{
 "imports": [
  ["./uchat_bot_bg.js", "__wbg_send_d83d0891cf698779", "a"],
  ["./uchat_bot_bg.js", "__wbg_close_2a8b1ba07b9e0fee", "b"]
 ],
"exports": [
  ["memory", "c"],
  ["uchatbot_new", "d"]
 ]
}
{
 "imports": [
 ],
"exports": [
  ["c", "c"]
 ]
}
"#;

    #[test]
    fn reads_the_first_mapping() {
        let m = parse_mapping(MAP).unwrap();
        assert_eq!(m.imports.len(), 2);
        assert_eq!(m.imports[1].1, "__wbg_close_2a8b1ba07b9e0fee");
        assert_eq!(
            m.exports,
            vec![
                ("memory".into(), "c".into()),
                ("uchatbot_new".into(), "d".into())
            ]
        );
        assert!(parse_mapping("{}").is_err());
        assert!(parse_mapping("\"imports\": [\n[\"a\"],\n").is_err());
    }

    #[test]
    fn renames_keys_members_and_the_module() {
        let glue = "const import0 = {\n    __proto__: null,\n    __wbg_send_d83d0891cf698779: function(a) {\n        wasm.uchatbot_new(wasm.memory, wasm.memoryX);\n    },\n    __wbg_close_2a8b1ba07b9e0fee: function() {},\n};\nreturn { \"./uchat_bot_bg.js\": import0 };\nx.__wbg_send_d83d0891cf698779: 1\n";
        let m = parse_mapping(MAP).unwrap();
        let out = rename_glue(glue, &m, "a").unwrap();
        assert!(out.contains("    a: function(a) {"));
        assert!(out.contains("    b: function() {}"));
        assert!(out.contains("wasm.d(wasm.c, wasm.memoryX)"));
        assert!(out.contains("{ \"a\": import0 }"));
        // A name that is not a key at the start of a line stays.
        assert!(out.contains("x.__wbg_send_d83d0891cf698779: 1"));
        // A missing import key fails.
        let short = glue.replace("__wbg_close_2a8b1ba07b9e0fee: function", "other: function");
        assert!(rename_glue(&short, &m, "a")
            .unwrap_err()
            .contains("defined 0 times"));
    }

    #[test]
    fn reads_import_module_names() {
        // Header, then a type section (skipped) and an import section with two functions
        // from module "a" and a memory from module "env".
        let mut w = b"\0asm\x01\0\0\0".to_vec();
        w.extend([1, 4, 1, 0x60, 0, 0]);
        let imports: Vec<u8> = [
            &[3u8][..],
            &[1, b'a', 1, b'x', 0, 0],
            &[1, b'a', 1, b'y', 0, 0],
            &[3, b'e', b'n', b'v', 1, b'm', 2, 1, 1, 2],
        ]
        .concat();
        w.push(2);
        w.push(imports.len() as u8);
        w.extend(&imports);
        assert_eq!(
            import_modules(&w).unwrap(),
            vec!["a".to_string(), "env".to_string()]
        );
        assert!(import_modules(b"nope").is_err());
        w.truncate(w.len() - 3);
        assert!(import_modules(&w).is_err());
    }
}
