//! HTML building blocks of the console: escaping, the page layout (inline CSS, no script, so it
//! works offline and under a strict Content-Security-Policy), tables and the deadline chart.

use std::fmt::Write;

use crate::deadlines::Counts;

/// `text` escaped for HTML text and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A bilingual label: Vietnamese first, English after.
pub fn label(vi: &str, en: &str) -> String {
    format!("{} <span class=en>/ {}</span>", esc(vi), esc(en))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9}\
header{background:#a50e0e;color:#fff;padding:.8em 1.5em}header a{color:#fff;margin-right:1.2em}\
main{padding:1em 1.5em}table{border-collapse:collapse;background:#fff;margin:.5em 0 1.5em;min-width:40%}\
th,td{border:1px solid #d0d4da;padding:.35em .6em;text-align:left;vertical-align:top}th{background:#eef0f3}\
.en{color:#6b7280;font-weight:normal;font-size:.9em}.ok{color:#116611}.warn{color:#9a5b00}.bad{color:#b00020}\
.num{text-align:right;font-variant-numeric:tabular-nums}form.inline{display:inline}\
button{background:#a50e0e;color:#fff;border:0;padding:.3em .8em;border-radius:3px;cursor:pointer}\
.notice{background:#e7f5e7;border:1px solid #9c9;padding:.5em 1em}.err{background:#fdeaea;border:1px solid #d99;padding:.5em 1em}";

/// A whole page.
pub fn page(title_vi: &str, title_en: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=vi><head><meta charset=utf-8>\
<meta name=viewport content=\"width=device-width,initial-scale=1\">\
<title>{t} — Lienthong</title><style>{STYLE}</style></head><body>\
<header><strong>Lienthong</strong> — {h}<br><nav>\
<a href=/console>Tổng quan / Overview</a><a href=/console/dead>Thư lỗi / Dead letters</a>\
<a href=/console/dossier>Tra cứu hồ sơ / Dossier lookup</a><a href=/console/stats>Thống kê hạn / Deadlines</a>\
<form method=post action=/console/logout style=display:inline><button type=submit>Đăng xuất / Sign out</button></form>\
</nav></header><main>{body}</main></body></html>",
        t = esc(title_vi),
        h = label(title_vi, title_en),
    )
}

/// A table with bilingual headers; cells are already HTML.
pub fn table(id: &str, headers: &[(&str, &str)], rows: &[Vec<String>]) -> String {
    let mut out = format!("<table id={}><thead><tr>", esc(id));
    for (vi, en) in headers {
        let _ = write!(out, "<th>{}</th>", label(vi, en));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan={}>{}</td></tr>",
            headers.len(),
            label("Không có", "None")
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The deadline states with their labels and colours, in display order.
pub const STATES: [(&str, &str, &str, &str); 7] = [
    ("on_time", "Đúng hạn", "On time", "#2e7d32"),
    ("late", "Trễ hạn", "Returned late", "#ef6c00"),
    ("overdue", "Quá hạn", "Overdue", "#c62828"),
    ("due_soon", "Sắp đến hạn", "Due soon", "#f9a825"),
    ("in_progress", "Đang giải quyết", "In progress", "#1565c0"),
    ("closed", "Đã dừng/từ chối", "Closed", "#757575"),
    ("no_due_date", "Không có hạn", "No due date", "#bdbdbd"),
];

/// A horizontal bar chart of deadline counts (inline SVG, no script).
pub fn chart(counts: &Counts) -> String {
    let values = counts.states();
    let max = values.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let row_h = 28;
    let mut out = format!(
        "<svg id=deadline-chart role=img aria-label=\"Deadline chart\" width=640 height={} \
         xmlns=http://www.w3.org/2000/svg font-family=sans-serif font-size=13>",
        row_h * values.len() + 8
    );
    for (i, ((state, n), (_, vi, en, colour))) in values.iter().zip(STATES).enumerate() {
        let y = i * row_h + 4;
        let w = (*n as f64 / max as f64 * 380.0).round();
        let _ = write!(
            out,
            "<text x=0 y={ty}>{vi} / {en}</text>\
             <rect data-state={state} x=220 y={y} width={w} height=20 fill=\"{colour}\"></rect>\
             <text x={tx} y={ty}>{n}</text>",
            ty = y + 15,
            tx = 226.0 + w,
            vi = esc(vi),
            en = esc(en),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">O'Neil & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
    }

    #[test]
    fn the_chart_has_one_bar_per_state_scaled_to_the_largest() {
        let c = Counts {
            on_time: 4,
            overdue: 2,
            total: 6,
            ..Counts::default()
        };
        let svg = chart(&c);
        assert_eq!(svg.matches("<rect").count(), 7);
        assert!(
            svg.contains("data-state=on_time x=220 y=4 width=380"),
            "{svg}"
        );
        assert!(
            svg.contains("data-state=overdue x=220 y=60 width=190"),
            "{svg}"
        );
    }
}
