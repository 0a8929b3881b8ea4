//! The human-readable index of an export package (`index.html`): the items
//! with their digests, in Chinese with English beside it, printable as the
//! evidence list (证据清单) of a case file. It explains; the manifest and
//! the proofs are what a verifier checks.

use fieldlink_protocol::export::{Entry, Manifest};

/// Beijing time (UTC+8), as the users read times.
const UTC_OFFSET_HOURS: i8 = 8;

/// The index page for `manifest`.
pub fn render(manifest: &Manifest) -> String {
    let mut rows = String::new();
    for (number, entry) in manifest.items.iter().enumerate() {
        rows.push_str(&row(number + 1, entry));
    }
    let event = &manifest.export_event;
    format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>案件电子证据包 {case} · Case evidence package</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9em; }}
th, td {{ border: 1px solid #999; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }}
code {{ font-size: 0.85em; word-break: break-all; }}
</style>
</head>
<body>
<h1>案件电子证据包 · Case evidence package</h1>
<p>案件编号 Case: <strong>{case}</strong><br>
导出时间 Exported: {exported} (UTC+8)<br>
导出人 Exported by: {by}<br>
证据项数 Items: {count}</p>
<h2>证据清单 · Items</h2>
<table>
<tr><th>序号<br>No.</th><th>类型<br>Kind</th><th>编号<br>Item id</th><th>接收时间<br>Received (UTC+8)</th><th>设备 / 执法人员<br>Device / Officer</th><th>校验值<br>Digests</th><th>文件<br>File</th><th>日志序号<br>Leaf</th></tr>
{rows}</table>
<h2>完整性证明 · Integrity proof</h2>
<p>每一项证据都是透明日志的一个叶子；清单中的 SHA-256 与 SM3 校验值、包内的包含证明和签名检查点（{origin}，{size} 个叶子）可以离线核验。本次导出本身也记入日志（保管事件 {event}，叶子 {event_leaf}），其中列明了导出的全部证据项。</p>
<p>Every item is a leaf of the transparency log. Its SHA-256 and SM3 digests above, the inclusion proofs in <code>manifest.json</code> and the signed checkpoint (<code>checkpoint.txt</code>, log {origin}, {size} leaves) can be checked offline. This export is itself logged (custody event {event}, leaf {event_leaf}), listing every item exported.</p>
<p>核验方法 How to verify: <code>fieldlink verify THIS_FILE --log-key log.pub</code> (使用从可信渠道获得的日志公钥 · with the log key obtained from a trusted source), or any verifier written from docs/evidence-export.md.</p>
<p>根哈希 Root: <code>{root}</code></p>
</body>
</html>
"#,
        case = escape(&manifest.case_id),
        exported = beijing_time(manifest.exported_at_ms),
        by = escape(&manifest.exported_by),
        count = manifest.items.len(),
        rows = rows,
        origin = escape(&manifest.log.origin),
        size = manifest.log.tree_size,
        event = escape(&event.item_id),
        event_leaf = event.leaf_index,
        root = escape(&manifest.log.root_sha256),
    )
}

fn row(number: usize, entry: &Entry) -> String {
    format!(
        "<tr><td>{number}</td><td>{kind}</td><td><code>{id}</code></td><td>{received}</td>\
         <td>{device}<br>{officer}</td><td>SHA-256 <code>{sha256}</code><br>SM3 <code>{sm3}</code></td>\
         <td><code>{file}</code></td><td>{leaf}</td></tr>\n",
        kind = kind_label(&entry.kind, &entry.file),
        id = escape(&entry.item_id),
        received = beijing_time(entry.received_at_ms),
        device = escape(&entry.device_id),
        officer = escape(&entry.officer_id),
        sha256 = escape(&entry.sha256),
        sm3 = escape(&entry.sm3),
        file = escape(&entry.file),
        leaf = entry.leaf_index,
    )
}

/// The kind in Chinese and as recorded; media by what the file is (the
/// leaf kind `photo` covers video, recordings and documents too).
fn kind_label(kind: &str, file: &str) -> String {
    let extension = file.rsplit('.').next().unwrap_or_default();
    let chinese = match kind {
        "inspection" => "检查记录",
        "photo" => match extension {
            "mp4" | "mov" => "视频",
            "m4a" | "wav" | "mp3" => "录音",
            "pdf" => "文书",
            _ => "照片",
        },
        "service" => "电子送达",
        "service_event" => "送达事件",
        "interview" => "远程询问",
        "assignment_event" => "任务事件",
        "custody" => "保管事件",
        "monitor_packet" => "在线监测数据包",
        "camera_alert" => "视频告警",
        "grid_report" => "网格上报",
        "incident_event" => "事件记录",
        _ => "",
    };
    format!("{chinese}<br>{}", escape(kind))
}

/// `YYYY-MM-DD hh:mm:ss` in UTC+8.
fn beijing_time(ms: i64) -> String {
    let offset = time::UtcOffset::from_hms(UTC_OFFSET_HOURS, 0, 0).unwrap_or(time::UtcOffset::UTC);
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(at) => {
            let at = at.to_offset(offset);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            )
        }
        Err(_) => ms.to_string(),
    }
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_are_named_by_what_the_file_is() {
        assert!(kind_label("photo", "items/00000003-photo-x.mp4").starts_with("视频"));
        assert!(kind_label("photo", "items/00000004-photo-x.m4a").starts_with("录音"));
        assert!(kind_label("photo", "items/00000005-photo-x.pdf").starts_with("文书"));
        assert!(kind_label("photo", "items/00000006-photo-x.jpg").starts_with("照片"));
        assert!(kind_label("inspection", "items/00000001-inspection-x.pb").starts_with("检查记录"));
    }

    #[test]
    fn times_are_beijing_time_and_text_is_escaped() {
        // 2026-12-02 01:30:05 UTC is 09:30:05 in Beijing.
        assert_eq!(beijing_time(1_796_175_005_000), "2026-12-02 09:30:05");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
