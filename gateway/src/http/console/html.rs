//! The console's pages as askama templates (`gateway/templates/console/`): each page is a
//! struct of plain values, and the templates escape every value they print (HTML escaping is
//! askama's default for `.html` templates), so a forgotten escape cannot happen. The layout has
//! inline CSS and no script, so it works offline and under a strict Content-Security-Policy.

use askama::Template;

use crate::records::deadlines::Counts;
use crate::store::{DeliveryView, DossierView};

/// Bilingual column headers: (Vietnamese, English).
pub type Headers = &'static [(&'static str, &'static str)];

/// The destinations table's headers.
pub const DESTINATION_HEADERS: Headers = &[
    ("Điểm đến", "Destination"),
    ("Đang chờ gửi", "Queued"),
    ("Chờ gửi lại", "Retrying"),
    ("Thư lỗi", "Dead"),
    ("Chờ lâu nhất", "Oldest"),
    ("Trạng thái", "Circuit"),
    ("Lỗi gần nhất", "Last error"),
];

/// The certificates table's headers.
pub const CERTIFICATE_HEADERS: Headers = &[
    ("Chứng thư", "Certificate"),
    ("Chủ thể", "Subject"),
    ("Hết hạn", "Expires"),
    ("Còn (ngày)", "Days left"),
];

/// The dead letters table's headers.
pub const DEAD_HEADERS: Headers = &[
    ("Mã thư", "Message"),
    ("Hồ sơ", "Dossier"),
    ("Điểm đến", "Destination"),
    ("Loại", "Kind"),
    ("Số lần", "Attempts"),
    ("Lý do", "Reason"),
    ("", "Action"),
];

/// A dossier's history table's headers.
pub const HISTORY_HEADERS: Headers = &[
    ("Mã", "Id"),
    ("Trạng thái", "Status"),
    ("Lúc", "At"),
    ("Ghi chú", "Note"),
];

/// A dossier's deliveries table's headers.
pub const DELIVERY_HEADERS: Headers = &[
    ("Điểm đến", "Destination"),
    ("Loại", "Kind"),
    ("Trạng thái", "State"),
    ("Số lần", "Attempts"),
    ("Đã gửi lúc", "Delivered at"),
    ("Lỗi", "Error"),
];

/// A page that only says something went wrong (data unavailable, sign-in refused).
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct MessagePage<'a> {
    /// The page's title (Vietnamese, English).
    pub title: (&'a str, &'a str),
    /// A bilingual message, or else…
    pub message: Option<(&'a str, &'a str)>,
    /// …a detail in one language (an error's text).
    pub detail: String,
}

/// One destination's line on the overview.
pub struct DestinationRow {
    /// Its name.
    pub name: String,
    /// Deliveries waiting or in flight.
    pub queued: i64,
    /// Of which waiting for a retry.
    pub retrying: i64,
    /// Dead letters.
    pub dead: i64,
    /// Age of the oldest undelivered message ("—" for none).
    pub oldest: String,
    /// The circuit: CSS class, Vietnamese, English.
    pub circuit: (&'static str, &'static str, &'static str),
    /// The last error and when (RFC 3339).
    pub last_error: Option<(String, String)>,
}

/// One certificate's line on the overview.
pub struct CertificateRow {
    /// Where it is configured (`server.tls`, `signing`…).
    pub name: String,
    /// Its subject.
    pub subject: String,
    /// Its last day.
    pub expires: String,
    /// Days left (negative: expired).
    pub days_left: i64,
    /// `ok`, `warn` (30 days or fewer) or `bad` (expired).
    pub class: &'static str,
}

/// `GET /console`.
#[derive(Template)]
#[template(path = "console/overview.html")]
pub struct OverviewPage {
    /// The destinations.
    pub destinations: Vec<DestinationRow>,
    /// The certificates.
    pub certificates: Vec<CertificateRow>,
    /// The deadline chart.
    pub chart: Chart,
}

/// `GET /console/dead`.
#[derive(Template)]
#[template(path = "console/dead.html")]
pub struct DeadPage<'a> {
    /// A message just replayed (the notice after the redirect).
    pub replayed: Option<&'a str>,
    /// A replay refused, with why.
    pub refused: Option<&'a str>,
    /// The dead letters.
    pub dead: &'a [DeliveryView],
    /// The CSRF token the replay forms carry.
    pub csrf: &'a str,
}

/// `GET /console/dossier?code=`.
#[derive(Template)]
#[template(path = "console/dossier.html")]
pub struct DossierPage<'a> {
    /// The code asked for (empty: the form only).
    pub code: &'a str,
    /// The dossier, when it exists.
    pub view: Option<&'a DossierView>,
}

/// One line of a statistics table: its code and its counts per deadline state, then the total.
pub struct StatsLine {
    /// The agency, procedure or field code ("—" for none).
    pub code: String,
    /// Counts in [`STATES`] order, then the total.
    pub counts: Vec<i64>,
}

/// One statistics table.
pub struct StatsTable {
    /// Its element id.
    pub id: &'static str,
    /// Its heading, Vietnamese.
    pub vi: &'static str,
    /// Its heading, English.
    pub en: &'static str,
    /// Its lines.
    pub lines: Vec<StatsLine>,
}

/// `GET /console/stats`.
#[derive(Template)]
#[template(path = "console/stats.html")]
pub struct StatsPage {
    /// The deadline chart.
    pub chart: Chart,
    /// Code, the states, total.
    pub headers: Vec<(&'static str, &'static str)>,
    /// Totals, by agency, by procedure, by field.
    pub tables: Vec<StatsTable>,
}

/// `GET /console/login`.
#[derive(Template)]
#[template(path = "console/login.html")]
pub struct LoginPage;

impl StatsLine {
    /// The line of `line`.
    pub fn of(line: &crate::records::deadlines::Line) -> Self {
        let mut counts: Vec<i64> = line.counts.states().iter().map(|(_, n)| *n).collect();
        counts.push(line.counts.total);
        Self {
            code: if line.code.is_empty() {
                "—".to_owned()
            } else {
                line.code.clone()
            },
            counts,
        }
    }
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

/// One bar of the deadline chart.
pub struct Bar {
    /// The deadline state (`data-state`).
    pub state: &'static str,
    /// Its label, Vietnamese.
    pub vi: &'static str,
    /// Its label, English.
    pub en: &'static str,
    /// Its colour.
    pub colour: &'static str,
    /// How many dossiers.
    pub count: i64,
    /// Top of the bar.
    pub y: usize,
    /// Baseline of its texts.
    pub text_y: usize,
    /// Its length, scaled to the largest (380 px).
    pub width: f64,
    /// Where the count is written, after the bar.
    pub text_x: f64,
}

/// The horizontal bar chart of deadline counts (inline SVG, no script).
pub struct Chart {
    /// The SVG's height.
    pub height: usize,
    /// One bar per state, in [`STATES`] order.
    pub bars: Vec<Bar>,
}

impl Chart {
    /// The chart of `counts`.
    pub fn of(counts: &Counts) -> Self {
        const ROW: usize = 28;
        let values = counts.states();
        let max = values.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
        let bars = values
            .iter()
            .zip(STATES)
            .enumerate()
            .map(|(i, ((_, n), (state, vi, en, colour)))| {
                let y = i * ROW + 4;
                let width = (*n as f64 / max as f64 * 380.0).round();
                Bar {
                    state,
                    vi,
                    en,
                    colour,
                    count: *n,
                    y,
                    text_y: y + 15,
                    width,
                    text_x: 226.0 + width,
                }
            })
            .collect::<Vec<_>>();
        Self {
            height: ROW * bars.len() + 8,
            bars,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_by_the_templates() {
        let evil = r#"<script>alert("x")</script>"#;
        let html = DossierPage {
            code: evil,
            view: None,
        }
        .render()
        .expect("render");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        let html = MessagePage {
            title: ("Lỗi", "Error"),
            message: None,
            detail: format!("{evil} & O'Neil"),
        }
        .render()
        .expect("render");
        assert!(
            !html.contains("<script>") && !html.contains("O'Neil"),
            "{html}"
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
        let svg = OverviewPage {
            destinations: Vec::new(),
            certificates: Vec::new(),
            chart: Chart::of(&c),
        }
        .render()
        .expect("render");
        assert_eq!(svg.matches("<rect").count(), 7);
        assert!(
            svg.contains("data-state=on_time x=220 y=4 width=380 "),
            "{svg}"
        );
        assert!(
            svg.contains("data-state=overdue x=220 y=60 width=190 "),
            "{svg}"
        );
        // Empty tables say so, under their bilingual headers.
        assert!(svg.contains("<td colspan=7>Không có <span class=en>/ None</span></td>"));
        assert!(svg.contains("<th>Điểm đến <span class=en>/ Destination</span></th>"));
    }
}
