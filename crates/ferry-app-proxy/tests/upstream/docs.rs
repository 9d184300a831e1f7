//! Every TOML example of `docs/proxy.md` marked `<!-- parsed by tests -->` is a valid config.

use ferry_app_proxy::ProxyConfig;

#[test]
fn marked_examples_in_the_docs_parse() {
    let text = include_str!("../../../../docs/proxy.md");
    let mut found = 0;
    let mut rest = text;
    while let Some(at) = rest.find("<!-- parsed by tests -->") {
        rest = &rest[at..];
        let start = rest.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + rest[start..].find("```").unwrap();
        let example = &rest[start..end];
        if let Err(e) = ProxyConfig::from_toml(example) {
            panic!("example {found} does not parse: {e}\n{example}");
        }
        found += 1;
        rest = &rest[end..];
    }
    assert!(found >= 3, "only {found} marked examples");
}
