//! JavaScript names: which strings are identifiers, reserved words, or names of globals a
//! bundle must never assign. A leaf module (no kbrel imports), used by the configuration
//! check, the key rules and the bundle writer.

/// ECMAScript 2025 reserved words (§ 13.1 `ReservedWord`), the words reserved in strict mode
/// code and modules (`implements` … `yield`, `await`), and the literals `null`, `true`,
/// `false`: none of them can be a binding name, and `window.class` style access is the only way
/// to reach them.
pub const RESERVED_WORDS: [&str; 48] = [
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    // strict mode
    "implements",
    "interface",
    "let",
    "package",
    "private",
    "protected",
    "public",
    "static",
    // not assignable in strict code
    "arguments",
    "eval",
];

/// Globals that exist in every browser, worker and Node (plus the properties every object
/// inherits): an IIFE that assigned one of them would overwrite the platform (`globalThis`,
/// `Object`), do nothing (`undefined`, `NaN`, `Infinity` are read-only), or set the global
/// object's prototype (`__proto__`).
pub const PLATFORM_GLOBALS: [&str; 73] = [
    "globalThis",
    "window",
    "self",
    "document",
    "global",
    "undefined",
    "NaN",
    "Infinity",
    "Object",
    "Function",
    "Array",
    "Number",
    "String",
    "Boolean",
    "Symbol",
    "BigInt",
    "Math",
    "JSON",
    "Date",
    "RegExp",
    "Error",
    "TypeError",
    "RangeError",
    "SyntaxError",
    "ReferenceError",
    "EvalError",
    "URIError",
    "AggregateError",
    "Promise",
    "Proxy",
    "Reflect",
    "Map",
    "Set",
    "WeakMap",
    "WeakSet",
    "WeakRef",
    "ArrayBuffer",
    "SharedArrayBuffer",
    "DataView",
    "Atomics",
    "Intl",
    "Iterator",
    "parseInt",
    "parseFloat",
    "isNaN",
    "isFinite",
    "encodeURI",
    "encodeURIComponent",
    "decodeURI",
    "decodeURIComponent",
    "escape",
    "unescape",
    "console",
    "setTimeout",
    "setInterval",
    "clearTimeout",
    "clearInterval",
    "queueMicrotask",
    "structuredClone",
    "fetch",
    "location",
    "navigator",
    "process",
    "require",
    "module",
    "exports",
    "__proto__",
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toString",
    "valueOf",
];

/// An ASCII JavaScript identifier name (`[A-Za-z_$][A-Za-z0-9_$]*`). Reserved words are
/// identifier *names* too: see [`is_binding_name`].
pub fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// An identifier that can be declared (`var X`) and written bare in strict code.
pub fn is_binding_name(s: &str) -> bool {
    is_identifier(s) && !RESERVED_WORDS.contains(&s)
}

/// Why `name` cannot be an IIFE global, or `None` when it can.
pub fn global_name_problem(name: &str) -> Option<String> {
    if !is_identifier(name) {
        return Some(
            "is not a JavaScript identifier (ASCII letters, digits, `_`, `$`; not starting with a digit)"
                .into(),
        );
    }
    if RESERVED_WORDS.contains(&name) {
        return Some("is a reserved word in JavaScript".into());
    }
    if PLATFORM_GLOBALS.contains(&name) || (name.starts_with("__") && name.ends_with("__")) {
        return Some(
            "is the name of an existing global or Object.prototype property; assigning it would overwrite the platform or do nothing"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_refused_and_accepted() {
        for bad in [
            "class",
            "globalThis",
            "undefined",
            "__proto__",
            "let",
            "1x",
            "a-b",
            "",
            "Object",
            "__defineGetter__",
        ] {
            assert!(global_name_problem(bad).is_some(), "{bad}");
        }
        for good in ["FlashDocsEn", "_docs", "$Docs", "KbrelGuideZh"] {
            assert_eq!(global_name_problem(good), None, "{good}");
        }
    }

    #[test]
    fn reserved_word_list_has_no_duplicates() {
        let mut all: Vec<&str> = RESERVED_WORDS.to_vec();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), RESERVED_WORDS.len());
        let mut g: Vec<&str> = PLATFORM_GLOBALS.to_vec();
        g.sort();
        g.dedup();
        assert_eq!(g.len(), PLATFORM_GLOBALS.len());
    }
}
