//! The statistics the command room and the town's yearly rule-of-law
//! report quote: inspections and their outcomes by domain, matter, team,
//! officer or month; penalty outcomes against the same period a year
//! earlier; incidents by category, state and source; response times from
//! dispatch to acceptance, arrival and completion (p50/p90); overdue and
//! returned rates; the catalogue's matters by domain. Counted by the
//! database (crate::storage::statistics), put together here.

use std::collections::{BTreeMap, HashMap};

use fieldlink_protocol::pb::{AssignmentEventKind, IncidentState, Outcome};
use fieldlink_protocol::FieldError;
use serde::Serialize;

use crate::catalogue::{civil_from_days, day_start_ms, Catalogue, DOMAINS};
use crate::directory::Directory;
use crate::storage::statistics::{InspectionCount, InspectionKey, TimeRange};
use crate::storage::{Storage, StorageError};

/// Longest range asked at once, days.
pub const RANGE_DAYS_MAX: i64 = 3 * 366;

/// Most assignment events read for the response times (a district's year
/// has far fewer); beyond it the times cover the first ones and say so.
const MOMENTS_MAX: u32 = 2_000_000;

const DAY_MS: i64 = 86_400_000;
const CST_OFFSET_MS: i64 = 8 * 3_600_000;

/// How the rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// By the matter's domain (the sixteen).
    Domain,
    /// By matter code.
    Matter,
    /// By the sending officer's team.
    Team,
    /// By the sending officer.
    Officer,
    /// By month (China Standard Time).
    Month,
}

impl GroupBy {
    /// Parses `domain`, `matter`, `team`, `officer` or `month`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "domain" => Self::Domain,
            "matter" => Self::Matter,
            "team" => Self::Team,
            "officer" => Self::Officer,
            "month" => Self::Month,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::Matter => "matter",
            Self::Team => "team",
            Self::Officer => "officer",
            Self::Month => "month",
        }
    }
}

/// A period of whole days, China Standard Time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// The same as ms, [from, to + 1 day).
    pub range: TimeRange,
}

impl Period {
    /// The days `from` to `to` (inclusive), each `YYYY-MM-DD`; refused with
    /// the field named when a date is malformed, the range is empty or
    /// longer than [`RANGE_DAYS_MAX`].
    pub fn parse(from: &str, to: &str) -> Result<Self, FieldError> {
        let start =
            day_start_ms(from).ok_or_else(|| FieldError::new("from", "must be a date, YYYY-MM-DD"))?;
        let last = day_start_ms(to).ok_or_else(|| FieldError::new("to", "must be a date, YYYY-MM-DD"))?;
        if last < start {
            return Err(FieldError::new("to", "must not be before from"));
        }
        if (last - start) / DAY_MS >= RANGE_DAYS_MAX {
            return Err(FieldError::new(
                "to",
                format!("the range may span at most {RANGE_DAYS_MAX} days"),
            ));
        }
        Ok(Self {
            from: from.to_owned(),
            to: to.to_owned(),
            range: TimeRange {
                from_ms: start,
                to_ms: last + DAY_MS,
            },
        })
    }

    /// The same days a year earlier (29 February becomes the 28th).
    fn a_year_earlier(&self) -> Option<Self> {
        let back = |date: &str| {
            let year: i64 = date.get(0..4)?.parse().ok()?;
            let mut earlier = format!("{:04}{}", year - 1, date.get(4..)?);
            if day_start_ms(&earlier).is_none() {
                earlier = format!("{:04}-02-28", year - 1);
            }
            Some(earlier)
        };
        Self::parse(&back(&self.from)?, &back(&self.to)?).ok()
    }
}

/// One group's inspections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The group's key: domain code, matter code, team id, officer id or `YYYY-MM`.
    pub key: String,
    /// Its name in words, where there is one.
    pub label: String,
    /// Inspections begun in the period.
    pub inspections: u64,
    /// By outcome (`OUTCOME_…`).
    pub outcomes: BTreeMap<String, u64>,
    /// Of them, penalty outcomes (on-site penalty, case opened).
    pub penalties: u64,
}

impl Row {
    fn add(&mut self, outcome: i32, count: u64) {
        let name = Outcome::try_from(outcome)
            .map(|o| o.as_str_name())
            .unwrap_or("OUTCOME_UNSPECIFIED");
        *self.outcomes.entry(name.to_owned()).or_default() += count;
        self.inspections += count;
        if is_penalty(outcome) {
            self.penalties += count;
        }
    }
}

/// Penalty outcomes against the same period a year earlier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PenaltyChange {
    /// In the period.
    pub this_period: u64,
    /// In the same days a year earlier.
    pub a_year_earlier: u64,
    /// The change, percent (none when a year earlier had none).
    pub change_percent: Option<f64>,
}

/// Incidents of one category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IncidentRow {
    /// The category.
    pub category: String,
    /// Opened in the period.
    pub total: u64,
    /// How they stand now (`INCIDENT_STATE_…`).
    pub states: BTreeMap<String, u64>,
}

/// A duration's spread, ms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Spread {
    /// Assignments measured.
    pub count: u64,
    /// Median, ms.
    pub p50_ms: Option<i64>,
    /// 90th percentile, ms.
    pub p90_ms: Option<i64>,
}

/// Dispatch to acceptance, arrival and completion; overdue and returned.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AssignmentFigures {
    /// Assignments created in the period.
    pub created: u64,
    /// From creation to the first acceptance.
    pub to_accepted: Spread,
    /// From creation to the first arrival on site.
    pub to_on_site: Spread,
    /// From creation to completion.
    pub to_completed: Spread,
    /// Assignments that went overdue.
    pub overdue: u64,
    /// Their share of those created.
    pub overdue_rate: Option<f64>,
    /// Assignments returned at review at least once.
    pub returned: u64,
    /// Their share of those created.
    pub returned_rate: Option<f64>,
    /// The events read stopped at their limit: the figures cover the first ones.
    pub truncated: bool,
}

/// The catalogue's matters in one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainMatters {
    /// The domain's code.
    pub code: String,
    /// Its name in Chinese.
    pub zh: String,
    /// Its name in English.
    pub en: String,
    /// Matters of the version in force at the period's end.
    pub matters: u64,
    /// Of them, compulsory measures.
    pub compulsory_measures: u64,
}

/// Every figure of one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// First day.
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// How `rows` are grouped.
    pub by: &'static str,
    /// The groups, by key.
    pub rows: Vec<Row>,
    /// All groups together.
    pub totals: Row,
    /// Penalty outcomes, with last year's.
    pub penalties: PenaltyChange,
    /// Incidents opened in the period, by category.
    pub incidents: Vec<IncidentRow>,
    /// Reports that became or joined incidents, by source (item kind).
    pub incident_sources: BTreeMap<String, u64>,
    /// The assignments' figures.
    pub assignments: AssignmentFigures,
    /// The catalogue version in force at the period's end.
    pub catalogue_version: Option<String>,
    /// Its matters by domain.
    pub catalogue: Vec<DomainMatters>,
}

fn is_penalty(outcome: i32) -> bool {
    outcome == Outcome::OnSitePenalty as i32 || outcome == Outcome::CaseOpened as i32
}

/// Computes the report of `period`, grouped `by`.
pub async fn report(
    storage: &dyn Storage,
    catalogue: &Catalogue,
    directory: &Directory,
    period: &Period,
    by: GroupBy,
) -> Result<Report, StorageError> {
    let key = match by {
        GroupBy::Domain | GroupBy::Matter => InspectionKey::Matter,
        GroupBy::Team | GroupBy::Officer => InspectionKey::Officer,
        GroupBy::Month => InspectionKey::Day,
    };
    let counts = storage.inspection_counts(period.range, key).await?;
    let rows = group(&counts, by, catalogue, directory);
    let mut totals = Row {
        key: "total".into(),
        label: "合计 Total".into(),
        ..Row::default()
    };
    for count in &counts {
        totals.add(count.outcome, count.count);
    }
    let a_year_earlier = match period.a_year_earlier() {
        Some(earlier) => storage
            .inspection_counts(earlier.range, InspectionKey::Matter)
            .await?
            .iter()
            .filter(|c| is_penalty(c.outcome))
            .map(|c| c.count)
            .sum(),
        None => 0,
    };
    let penalties = PenaltyChange {
        this_period: totals.penalties,
        a_year_earlier,
        change_percent: (a_year_earlier > 0).then(|| {
            ((totals.penalties as f64 - a_year_earlier as f64) / a_year_earlier as f64 * 1000.0).round()
                / 10.0
        }),
    };
    let mut incidents: BTreeMap<String, IncidentRow> = BTreeMap::new();
    for count in storage.incident_counts(period.range).await? {
        let row = incidents
            .entry(count.category.clone())
            .or_insert_with(|| IncidentRow {
                category: count.category.clone(),
                ..IncidentRow::default()
            });
        row.total += count.count;
        let state = IncidentState::try_from(count.state)
            .map(|s| s.as_str_name())
            .unwrap_or("INCIDENT_STATE_UNSPECIFIED");
        *row.states.entry(state.to_owned()).or_default() += count.count;
    }
    let incident_sources = storage
        .incident_source_counts(period.range)
        .await?
        .into_iter()
        .collect();
    let moments = storage.assignment_moments(period.range, MOMENTS_MAX).await?;
    let assignments = assignment_figures(&moments, moments.len() >= MOMENTS_MAX as usize);
    let version = catalogue
        .version_at(period.range.to_ms - 1)
        .or_else(|| catalogue.current());
    let catalogue_rows = DOMAINS
        .iter()
        .map(|d| {
            let in_domain = || {
                version
                    .into_iter()
                    .flat_map(|v| v.matters())
                    .filter(|m| m.domain == d.code)
            };
            DomainMatters {
                code: d.code.into(),
                zh: d.zh.into(),
                en: d.en.into(),
                matters: in_domain().count() as u64,
                compulsory_measures: in_domain().filter(|m| m.enforcement_measure).count() as u64,
            }
        })
        .collect();
    Ok(Report {
        from: period.from.clone(),
        to: period.to.clone(),
        by: by.name(),
        rows,
        totals,
        penalties,
        incidents: incidents.into_values().collect(),
        incident_sources,
        assignments,
        catalogue_version: version.map(|v| v.version.clone()),
        catalogue: catalogue_rows,
    })
}

/// The database's groups folded into the asked ones.
fn group(counts: &[InspectionCount], by: GroupBy, catalogue: &Catalogue, directory: &Directory) -> Vec<Row> {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for count in counts {
        let (key, label) = match by {
            GroupBy::Matter => (count.key.clone(), matter_name(catalogue, &count.key)),
            GroupBy::Domain => {
                let domain = matter_domain(catalogue, &count.key).unwrap_or_else(|| "—".into());
                let label = crate::catalogue::domain(&domain)
                    .map(|d| format!("{} {}", d.zh, d.en))
                    .unwrap_or_default();
                (domain, label)
            }
            GroupBy::Officer => (
                count.key.clone(),
                directory
                    .officer(&count.key)
                    .map(|o| o.name.clone())
                    .unwrap_or_default(),
            ),
            GroupBy::Team => {
                let team = directory
                    .officer(&count.key)
                    .map(|o| o.team_id.clone())
                    .unwrap_or_else(|| "—".into());
                let label = directory.team(&team).map(|t| t.name.clone()).unwrap_or_default();
                (team, label)
            }
            GroupBy::Month => {
                let day: i64 = count.key.parse().unwrap_or_default();
                let (year, month, _) = civil_from_days(day);
                (format!("{year:04}-{month:02}"), String::new())
            }
        };
        rows.entry(key.clone())
            .or_insert_with(|| Row {
                key,
                label,
                ..Row::default()
            })
            .add(count.outcome, count.count);
    }
    rows.into_values().collect()
}

/// A matter's domain, from the newest version that lists it.
fn matter_domain(catalogue: &Catalogue, code: &str) -> Option<String> {
    catalogue
        .versions()
        .iter()
        .rev()
        .find_map(|v| v.matter(code))
        .map(|m| m.domain.clone())
}

fn matter_name(catalogue: &Catalogue, code: &str) -> String {
    catalogue
        .versions()
        .iter()
        .rev()
        .find_map(|v| v.matter(code))
        .map(|m| m.name.clone())
        .unwrap_or_default()
}

/// Response times and rates from the assignments' events.
fn assignment_figures(
    moments: &[crate::storage::statistics::AssignmentMoment],
    truncated: bool,
) -> AssignmentFigures {
    #[derive(Default)]
    struct Life {
        created: Option<i64>,
        accepted: Option<i64>,
        on_site: Option<i64>,
        completed: Option<i64>,
        overdue: bool,
        returned: bool,
    }
    let mut lives: HashMap<&str, Life> = HashMap::new();
    for moment in moments {
        let life = lives.entry(moment.assignment_id.as_str()).or_default();
        let first = |slot: &mut Option<i64>| {
            slot.get_or_insert(moment.at_ms);
        };
        match AssignmentEventKind::try_from(moment.kind) {
            Ok(AssignmentEventKind::Created) => first(&mut life.created),
            Ok(AssignmentEventKind::Accepted) => first(&mut life.accepted),
            Ok(AssignmentEventKind::OnSite) => first(&mut life.on_site),
            Ok(AssignmentEventKind::Completed) => first(&mut life.completed),
            Ok(AssignmentEventKind::Overdue) => life.overdue = true,
            Ok(AssignmentEventKind::Returned) => life.returned = true,
            _ => {}
        }
    }
    let spread = |pick: fn(&Life) -> Option<i64>| {
        let mut durations: Vec<i64> = lives
            .values()
            .filter_map(|l| Some(pick(l)? - l.created?))
            .filter(|d| *d >= 0)
            .collect();
        durations.sort_unstable();
        // Nearest rank.
        let at = |p: usize| {
            (!durations.is_empty()).then(|| durations[(durations.len() * p).div_ceil(100).max(1) - 1])
        };
        Spread {
            count: durations.len() as u64,
            p50_ms: at(50),
            p90_ms: at(90),
        }
    };
    let created = lives.values().filter(|l| l.created.is_some()).count() as u64;
    let overdue = lives.values().filter(|l| l.overdue).count() as u64;
    let returned = lives.values().filter(|l| l.returned).count() as u64;
    let rate = |n: u64| (created > 0).then(|| (n as f64 / created as f64 * 1000.0).round() / 1000.0);
    AssignmentFigures {
        created,
        to_accepted: spread(|l| l.accepted),
        to_on_site: spread(|l| l.on_site),
        to_completed: spread(|l| l.completed),
        overdue,
        overdue_rate: rate(overdue),
        returned,
        returned_rate: rate(returned),
        truncated,
    }
}

/// The rows as CSV (UTF-8 with a byte-order mark, so spreadsheet programs
/// read the Chinese): key, label, inspections, each outcome, penalties.
pub fn csv(report: &Report) -> String {
    let outcomes: Vec<&'static str> = (1..=7)
        .filter_map(|n| Outcome::try_from(n).ok())
        .map(|o| o.as_str_name())
        .collect();
    let field = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let mut out = String::from("\u{feff}");
    out.push_str(&format!(
        "{},label,inspections,{},penalties\r\n",
        report.by,
        outcomes.join(",")
    ));
    for row in report.rows.iter().chain(std::iter::once(&report.totals)) {
        let by_outcome: Vec<String> = outcomes
            .iter()
            .map(|o| row.outcomes.get(*o).copied().unwrap_or(0).to_string())
            .collect();
        out.push_str(&format!(
            "{},{},{},{},{}\r\n",
            field(&row.key),
            field(&row.label),
            row.inspections,
            by_outcome.join(","),
            row.penalties
        ));
    }
    out
}

/// The report as an Excel workbook (rust_xlsxwriter): a sheet of the rows
/// (as the CSV) and a sheet of the period's other figures.
pub fn xlsx(report: &Report) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, Workbook, XlsxError};
    let build = || -> Result<Vec<u8>, XlsxError> {
        let outcomes: Vec<&'static str> = (1..=7)
            .filter_map(|n| Outcome::try_from(n).ok())
            .map(|o| o.as_str_name())
            .collect();
        let bold = Format::new().set_bold();
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.set_name("统计 Statistics")?;
        let mut headers = vec![report.by, "label", "inspections"];
        headers.extend(&outcomes);
        headers.push("penalties");
        for (col, header) in headers.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, *header, &bold)?;
        }
        sheet.set_column_width(1, 40)?;
        for (index, row) in report
            .rows
            .iter()
            .chain(std::iter::once(&report.totals))
            .enumerate()
        {
            let r = index as u32 + 1;
            sheet.write_string(r, 0, &row.key)?;
            sheet.write_string(r, 1, &row.label)?;
            sheet.write_number(r, 2, row.inspections as f64)?;
            for (n, outcome) in outcomes.iter().enumerate() {
                let count = row.outcomes.get(*outcome).copied().unwrap_or(0);
                sheet.write_number(r, 3 + n as u16, count as f64)?;
            }
            sheet.write_number(r, 3 + outcomes.len() as u16, row.penalties as f64)?;
        }
        let summary = workbook.add_worksheet();
        summary.set_name("概况 Summary")?;
        summary.set_column_width(0, 36)?;
        let mut line = 0u32;
        let mut put = |label: &str, value: String| -> Result<(), XlsxError> {
            summary.write_string(line, 0, label)?;
            summary.write_string(line, 1, value)?;
            line += 1;
            Ok(())
        };
        let ms = |spread: &Spread| {
            format!(
                "p50 {} ms, p90 {} ms, n = {}",
                spread.p50_ms.map_or("—".into(), |v| v.to_string()),
                spread.p90_ms.map_or("—".into(), |v| v.to_string()),
                spread.count
            )
        };
        put("期间 Period", format!("{} – {}", report.from, report.to))?;
        put("检查总数 Inspections", report.totals.inspections.to_string())?;
        put(
            "处罚类结果 Penalty outcomes",
            report.penalties.this_period.to_string(),
        )?;
        put(
            "去年同期 A year earlier",
            report.penalties.a_year_earlier.to_string(),
        )?;
        put(
            "同比 Change (%)",
            report
                .penalties
                .change_percent
                .map_or("—".into(), |c| format!("{c:+.1}")),
        )?;
        put("派发任务 Assignments", report.assignments.created.to_string())?;
        put("派发至接收 To accepted", ms(&report.assignments.to_accepted))?;
        put("派发至到场 To on site", ms(&report.assignments.to_on_site))?;
        put("派发至办结 To completed", ms(&report.assignments.to_completed))?;
        put("超期 Overdue", report.assignments.overdue.to_string())?;
        put("退回 Returned", report.assignments.returned.to_string())?;
        for incident in &report.incidents {
            put(
                &format!("事件 Incidents: {}", incident.category),
                incident.total.to_string(),
            )?;
        }
        put(
            "事项目录版本 Catalogue version",
            report.catalogue_version.clone().unwrap_or_default(),
        )?;
        for domain in &report.catalogue {
            put(
                &format!("{} {}", domain.zh, domain.en),
                domain.matters.to_string(),
            )?;
        }
        workbook.save_to_buffer()
    };
    build().map_err(|e| e.to_string())
}

/// The day number (China Standard Time) of a time, for tests and tools.
pub fn day_of(at_ms: i64) -> i64 {
    (at_ms + CST_OFFSET_MS).div_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_days_and_refused_with_the_field_named() {
        let period = Period::parse("2026-01-01", "2026-12-31").unwrap();
        assert_eq!(period.range.to_ms - period.range.from_ms, 365 * DAY_MS);
        let earlier = period.a_year_earlier().unwrap();
        assert_eq!(
            (earlier.from.as_str(), earlier.to.as_str()),
            ("2025-01-01", "2025-12-31")
        );
        let leap = Period::parse("2024-02-29", "2024-02-29").unwrap();
        assert_eq!(leap.a_year_earlier().unwrap().from, "2023-02-28");
        for (from, to, field) in [
            ("2026-13-01", "2026-12-31", "from"),
            ("2026-01-01", "soon", "to"),
            ("2026-02-01", "2026-01-31", "to"),
            ("2020-01-01", "2026-01-01", "to"),
        ] {
            assert_eq!(Period::parse(from, to).unwrap_err().field, field, "{from} {to}");
        }
        assert_eq!(
            day_of(period.range.from_ms),
            period.range.from_ms.div_euclid(DAY_MS) + 1
        );
    }

    #[test]
    fn response_times_are_nearest_rank_percentiles() {
        use crate::storage::statistics::AssignmentMoment;
        let moment = |id: &str, kind: AssignmentEventKind, at_ms| AssignmentMoment {
            assignment_id: id.into(),
            kind: kind as i32,
            at_ms,
        };
        let mut moments = Vec::new();
        for n in 1..=10 {
            let id = format!("a{n}");
            moments.push(moment(&id, AssignmentEventKind::Created, 0));
            moments.push(moment(&id, AssignmentEventKind::Accepted, n * 1_000));
            moments.push(moment(&id, AssignmentEventKind::Accepted, 99_999));
        }
        moments.push(moment("a1", AssignmentEventKind::Overdue, 5));
        moments.push(moment("a2", AssignmentEventKind::Returned, 5));
        moments.push(moment("a3", AssignmentEventKind::Returned, 6));
        let figures = assignment_figures(&moments, false);
        assert_eq!(figures.created, 10);
        assert_eq!(figures.to_accepted.count, 10);
        assert_eq!(figures.to_accepted.p50_ms, Some(5_000));
        assert_eq!(figures.to_accepted.p90_ms, Some(9_000));
        assert_eq!(figures.to_completed, Spread::default());
        assert_eq!((figures.overdue, figures.returned), (1, 2));
        assert_eq!(figures.returned_rate, Some(0.2));
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let report = Report {
            from: "2026-01-01".into(),
            to: "2026-01-31".into(),
            by: "matter",
            rows: vec![Row {
                key: "ZJ-001".into(),
                label: "对占用城市道路堆放物料的处罚, \"quoted\"".into(),
                inspections: 3,
                outcomes: BTreeMap::from([("OUTCOME_ADVISED".to_owned(), 3)]),
                penalties: 0,
            }],
            totals: Row::default(),
            penalties: PenaltyChange {
                this_period: 0,
                a_year_earlier: 0,
                change_percent: None,
            },
            incidents: vec![],
            incident_sources: BTreeMap::new(),
            assignments: AssignmentFigures::default(),
            catalogue_version: None,
            catalogue: vec![],
        };
        let text = csv(&report);
        assert!(text.starts_with("\u{feff}matter,label,inspections,OUTCOME_NO_ISSUE,"));
        assert!(
            text.contains("ZJ-001,\"对占用城市道路堆放物料的处罚, \"\"quoted\"\"\",3,0,3,"),
            "{text}"
        );
    }
}
