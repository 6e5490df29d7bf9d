//! `$(VAR)` expansion and the Downward-API files, as the kubelet writes them.

use super::*;

#[test]
fn expansion_follows_the_kubelet() {
    let vars = HashMap::from([
        ("A".to_string(), "alpha".to_string()),
        ("B".to_string(), "$(A)".to_string()),
    ]);
    for (input, want) in [
        ("$(A)", "alpha"),
        ("x$(A)y$(A)", "xalphayalpha"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$alpha"),
        ("$(UNSET)", "$(UNSET)"),
        ("$(B)", "$(A)"),
        ("$(A", "$(A"),
        ("$(A$(A)", "$(A$(A)"),
        ("$()", "$()"),
        ("$", "$"),
        ("a$", "a$"),
        ("$$", "$"),
        ("$x$(A)", "$xalpha"),
        ("$ (A)", "$ (A)"),
        ("no variables", "no variables"),
        ("", ""),
    ] {
        assert_eq!(expand(input, &vars).unwrap(), want, "{input:?}");
    }
    // The byte after a lone `$` is written as a Latin-1 character: invalid UTF-8 here.
    assert!(expand("$é", &vars).is_err());
    assert_eq!(expand("é$(A)é", &vars).unwrap(), "éalphaé");
}

#[test]
fn labels_and_annotations_are_written_as_go_quotes_them() {
    assert_eq!(go_quote("plain"), r#""plain""#);
    assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(go_quote("\n\t\r\x07\x08\x0b\x0c"), r#""\n\t\r\a\b\v\f""#);
    assert_eq!(go_quote("\x00\x1f\x7f"), r#""\x00\x1f\x7f""#);
    assert_eq!(go_quote("é ü 日本 ✓"), "\"é ü 日本 ✓\"");
    assert_eq!(
        go_quote("\u{a0}\u{200b}\u{feff}"),
        r#""\u00a0\u200b\ufeff""#
    );
    assert_eq!(go_quote("\u{e000}\u{10fffd}"), r#""\ue000\U0010fffd""#);
    let map = BTreeMap::from([
        ("b".to_string(), "two".to_string()),
        ("a/x".to_string(), "one \"1\"".to_string()),
        ("c".to_string(), String::new()),
    ]);
    assert_eq!(format_map(&map), "a/x=\"one \\\"1\\\"\"\nb=\"two\"\nc=\"\"");
    assert_eq!(format_map(&BTreeMap::new()), "");
}
