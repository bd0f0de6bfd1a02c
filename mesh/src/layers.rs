//! The crate's floors, in one place, and the test that keeps them true.
//!
//! Each module may use (`crate::…`) only modules on a lower floor; modules
//! on one floor do not use each other. Cross-cutting watchers (testing
//! recorders, the recent-events view, meta-signals) sit high and attach
//! through [`observe`](crate::observe), which the emit path calls: a lower
//! floor never imports them. A new module must be added here, or the test
//! fails.

/// `(module, floor)`: a module may use modules of lower floors only.
/// `signal` is a directory (`signal/core.rs`, `signal/extras.rs`): its
/// files are one module here.
pub(crate) const FLOORS: &[(&str, u8)] = &[
    // Vocabulary: no crate imports.
    ("loom", 0),
    ("counter", 0),
    ("sync", 0),
    ("name", 0),
    ("event", 0),
    // The subscriber snapshot and handle types.
    ("subscribers", 1),
    ("connection", 1),
    ("namespace", 1),
    ("receiver", 2),
    // The per-thread snapshot cache and the hook the emit path calls.
    ("local", 3),
    ("observe", 3),
    ("middleware", 4),
    ("history", 4),
    // `Signal<T>`, `Core<T>`, the one emit decision.
    ("signal", 5),
    ("collect", 6),
    ("registry", 6),
    ("meta", 7),
    ("bus", 7),
    ("event_type", 7),
    ("projection", 8),
    ("effects", 8),
    ("delivery", 8),
    ("introspect", 9),
    ("private", 9),
    ("testing", 9),
];

#[cfg(test)]
mod tests {
    use super::FLOORS;
    use std::path::Path;

    fn floor(module: &str) -> Option<u8> {
        let module = if module == "__private" { "private" } else { module };
        FLOORS.iter().find(|(m, _)| *m == module).map(|&(_, f)| f)
    }

    /// The modules a source file names as `crate::<module>`, outside
    /// comments.
    fn uses(source: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in source.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
        out
    }

    /// Every import that breaks the floors, as a message.
    fn violations(files: &[(String, String)]) -> Vec<String> {
        let mut out = Vec::new();
        for (module, source) in files {
            let Some(own) = floor(module) else {
                out.push(format!("module `{module}` is not in layers::FLOORS"));
                continue;
            };
            for used in uses(source) {
                if used == *module {
                    continue;
                }
                match floor(&used) {
                    Some(f) if f < own => {}
                    Some(f) => out.push(format!(
                        "`{module}` (floor {own}) uses `{used}` (floor {f}): imports must point down"
                    )),
                    // Items of the crate root (`crate::Signal`, macros):
                    // re-exports, resolved to their modules above.
                    None => {}
                }
            }
        }
        out
    }

    fn sources() -> Vec<(String, String)> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("src is readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(&src).expect("under src");
                let top = rel.components().next().expect("a component");
                let module = Path::new(top.as_os_str()).file_stem().expect("a name");
                let module = module.to_string_lossy().into_owned();
                if module == "lib" || module == "layers" {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("source is readable");
                files.push((module, text));
            }
        }
        files
    }

    #[test]
    fn every_import_points_down() {
        let files = sources();
        assert!(files.len() > 15, "found the sources");
        let bad = violations(&files);
        assert!(bad.is_empty(), "layering violated:\n{}", bad.join("\n"));
    }

    #[test]
    fn the_check_catches_an_upward_import() {
        let files = [
            ("signal".to_string(), "use crate::registry::lookup; // a comment: crate::meta".into()),
            ("event".to_string(), "fn f() { crate::sync::x(); }".into()),
            ("newcomer".to_string(), String::new()),
        ];
        let bad = violations(&files);
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(bad[0].contains("`signal` (floor 5) uses `registry`"), "{bad:?}");
        assert!(bad[1].contains("`event` (floor 0) uses `sync`"), "{bad:?}");
        assert!(bad[2].contains("`newcomer` is not in layers::FLOORS"), "{bad:?}");
    }
}
