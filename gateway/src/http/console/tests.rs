use super::*;

#[test]
fn origins_must_be_this_host() {
    let mut h = HeaderMap::new();
    h.insert(header::HOST, "127.0.0.1:8440".parse().expect("header"));
    assert!(!same_origin(&h), "neither Origin nor Referer");
    h.insert(
        header::REFERER,
        "http://127.0.0.1:8440/console/dead"
            .parse()
            .expect("header"),
    );
    assert!(same_origin(&h), "a Referer from this gateway's page");
    h.insert(
        header::ORIGIN,
        "http://127.0.0.1:8440".parse().expect("header"),
    );
    assert!(same_origin(&h));
    h.insert(
        header::ORIGIN,
        "https://evil.example".parse().expect("header"),
    );
    assert!(!same_origin(&h));
}

#[test]
fn query_values_are_percent_encoded() {
    assert_eq!(
        urlencoding("000.00.14.H37-2411 a&b"),
        "000.00.14.H37-2411%20a%26b"
    );
}
