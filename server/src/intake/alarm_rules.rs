//! The rules that turn a monitor's readings into alarms (docs/intake.md):
//! a concentration over its limit in N consecutive real-time readings; an
//! instrument or communication fault flagged in the data; silence longer
//! than the monitor's `offline_after_s`. Each alarm fires once and re-arms
//! when the condition clears, so a kitchen over the limit all evening
//! raises one alarm, not one per packet.

use std::collections::{HashMap, HashSet};

use fieldlink_hj212::{DataFlag, RealTimeData};

use super::monitor_registry::Monitor;

/// An alarm a monitor raised.
#[derive(Debug, Clone, PartialEq)]
pub enum Alarm {
    /// `code` over its limit in `count` valid readings running.
    Exceedance {
        /// Pollutant code.
        code: String,
        /// The latest value.
        value: f64,
        /// The limit.
        limit: f64,
        /// Readings over the limit in a row.
        count: u32,
    },
    /// The data flag says the instrument (D) or its link (B) is at fault.
    Fault {
        /// Pollutant code.
        code: String,
    },
    /// No packet for longer than the monitor's offline time.
    Offline {
        /// How long it has been silent, ms.
        silent_ms: i64,
    },
}

impl Alarm {
    /// The incident category it reports.
    pub fn category<'a>(&self, monitor: &'a Monitor) -> &'a str {
        match self {
            Alarm::Exceedance { .. } => &monitor.category,
            Alarm::Fault { .. } => "monitor_fault",
            Alarm::Offline { .. } => "monitor_offline",
        }
    }

    /// One line for a person, Chinese first.
    pub fn summary(&self, monitor: &Monitor) -> String {
        match self {
            Alarm::Exceedance {
                code,
                value,
                limit,
                count,
            } => format!(
                "超标 {}: {code} = {value} > {limit}（连续 {count} 次）/ over the limit {count} readings running",
                monitor.name
            ),
            Alarm::Fault { code } => format!("设备故障 {}: {code} / instrument fault", monitor.name),
            // Minutes, or seconds for a silence under a minute.
            Alarm::Offline { silent_ms } if *silent_ms < 60_000 => format!(
                "设备离线 {}: {} 秒无数据 / offline, silent {} s",
                monitor.name,
                silent_ms / 1000,
                silent_ms / 1000
            ),
            Alarm::Offline { silent_ms } => format!(
                "设备离线 {}: {} 分钟无数据 / offline, silent {} min",
                monitor.name,
                silent_ms / 60_000,
                silent_ms / 60_000
            ),
        }
    }
}

/// What the rules remember of one monitor.
#[derive(Debug, Clone, Default)]
pub struct MonitorState {
    over_in_a_row: HashMap<String, u32>,
    exceeding: HashSet<String>,
    faulted: HashSet<String>,
    /// When its latest packet arrived (server clock), ms.
    pub last_packet_ms: Option<i64>,
    offline_reported: bool,
}

impl MonitorState {
    /// A packet arrived at `now_ms` (any packet: the monitor is alive).
    /// A packet arrived at `now_ms` (any packet: the monitor is alive), here
    /// or, as the database says, at another node.
    pub fn heard(&mut self, now_ms: i64) {
        self.last_packet_ms = Some(self.last_packet_ms.map_or(now_ms, |last| last.max(now_ms)));
        self.offline_reported = false;
    }

    /// The silence could not be confirmed or reported: look again next time.
    pub fn retry_offline(&mut self) {
        self.offline_reported = false;
    }

    /// Applies one real-time data packet; returns the alarms it raises.
    pub fn on_real_time_data(&mut self, monitor: &Monitor, data: &RealTimeData) -> Vec<Alarm> {
        let mut alarms = Vec::new();
        for reading in &data.readings {
            let flag = reading.flag.unwrap_or(DataFlag::Normal);
            if matches!(flag, DataFlag::Fault | DataFlag::CommunicationFault) {
                if self.faulted.insert(reading.code.clone()) {
                    alarms.push(Alarm::Fault {
                        code: reading.code.clone(),
                    });
                }
                continue;
            }
            if flag.is_valid_measurement() {
                self.faulted.remove(&reading.code);
            }
            let (Some(limit), Some(value)) = (monitor.limits.get(&reading.code), reading.value) else {
                continue;
            };
            // Maintenance, calibration, manual and stopped values neither
            // count towards an exceedance nor clear one.
            if !flag.is_valid_measurement() {
                continue;
            }
            if value > *limit {
                let count = self.over_in_a_row.entry(reading.code.clone()).or_default();
                *count = count.saturating_add(1);
                if *count >= monitor.consecutive && self.exceeding.insert(reading.code.clone()) {
                    alarms.push(Alarm::Exceedance {
                        code: reading.code.clone(),
                        value,
                        limit: *limit,
                        count: *count,
                    });
                }
            } else {
                self.over_in_a_row.remove(&reading.code);
                self.exceeding.remove(&reading.code);
            }
        }
        alarms
    }

    /// Whether the monitor is silent past its offline time at `now_ms`
    /// (counted from `since_ms` when it never reported); fires once per silence.
    pub fn check_offline(&mut self, monitor: &Monitor, since_ms: i64, now_ms: i64) -> Option<Alarm> {
        let last = self.last_packet_ms.unwrap_or(since_ms);
        let silent_ms = now_ms.saturating_sub(last);
        if silent_ms > monitor.offline_after_ms() && !self.offline_reported {
            self.offline_reported = true;
            return Some(Alarm::Offline { silent_ms });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldlink_hj212::Reading;

    fn monitor() -> Monitor {
        Monitor {
            mn: "M1".into(),
            password: "123456".into(),
            name: "面馆".into(),
            st: "31".into(),
            latitude: 30.0,
            longitude: 120.0,
            address: String::new(),
            team: "t".into(),
            category: "lampblack_exceedance".into(),
            matter_code: String::new(),
            consecutive: 3,
            offline_after_s: 600,
            limits: [("a34041".to_owned(), 2.0)].into_iter().collect(),
        }
    }

    fn data(value: f64, flag: DataFlag) -> RealTimeData {
        RealTimeData {
            data_time_ms: 0,
            readings: vec![Reading {
                code: "a34041".into(),
                value: Some(value),
                flag: Some(flag),
            }],
        }
    }

    #[test]
    fn three_in_a_row_raise_one_alarm_that_rearms_when_it_clears() {
        let (monitor, mut state) = (monitor(), MonitorState::default());
        let mut raised = Vec::new();
        for value in [2.5, 2.6, 1.0, 2.5, 2.6, 2.7, 2.8, 3.0, 1.5, 2.1, 2.2, 2.3] {
            raised.push(
                state
                    .on_real_time_data(&monitor, &data(value, DataFlag::Normal))
                    .len(),
            );
        }
        assert_eq!(raised, [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
        // Exactly the limit is not over it.
        let mut at_limit = MonitorState::default();
        for _ in 0..5 {
            assert!(at_limit
                .on_real_time_data(&monitor, &data(2.0, DataFlag::Normal))
                .is_empty());
        }
    }

    #[test]
    fn maintenance_values_neither_count_nor_clear_and_faults_fire_once() {
        let (monitor, mut state) = (monitor(), MonitorState::default());
        state.on_real_time_data(&monitor, &data(2.5, DataFlag::Normal));
        state.on_real_time_data(&monitor, &data(9.0, DataFlag::Maintenance));
        state.on_real_time_data(&monitor, &data(0.1, DataFlag::Calibration));
        state.on_real_time_data(&monitor, &data(2.5, DataFlag::Normal));
        let alarms = state.on_real_time_data(&monitor, &data(2.5, DataFlag::OverRange));
        assert!(matches!(alarms.as_slice(), [Alarm::Exceedance { count: 3, .. }]));
        let fault = state.on_real_time_data(&monitor, &data(0.0, DataFlag::Fault));
        assert_eq!(
            fault,
            [Alarm::Fault {
                code: "a34041".into()
            }]
        );
        assert!(state
            .on_real_time_data(&monitor, &data(0.0, DataFlag::Fault))
            .is_empty());
        state.on_real_time_data(&monitor, &data(1.0, DataFlag::Normal));
        assert_eq!(
            state
                .on_real_time_data(&monitor, &data(0.0, DataFlag::CommunicationFault))
                .len(),
            1
        );
    }

    #[test]
    fn a_short_silence_is_told_in_seconds_a_long_one_in_minutes() {
        let monitor = monitor();
        let short = Alarm::Offline { silent_ms: 2_500 }.summary(&monitor);
        assert!(short.contains("2 秒") && short.contains("silent 2 s"), "{short}");
        let long = Alarm::Offline { silent_ms: 900_000 }.summary(&monitor);
        assert!(
            long.contains("15 分钟") && long.contains("silent 15 min"),
            "{long}"
        );
    }

    #[test]
    fn silence_is_reported_once_until_the_monitor_is_heard() {
        let (monitor, mut state) = (monitor(), MonitorState::default());
        assert_eq!(state.check_offline(&monitor, 0, 600_000), None);
        assert_eq!(
            state.check_offline(&monitor, 0, 600_001),
            Some(Alarm::Offline { silent_ms: 600_001 })
        );
        assert_eq!(state.check_offline(&monitor, 0, 900_000), None);
        state.heard(900_000);
        assert_eq!(state.check_offline(&monitor, 0, 1_500_001).map(|_| ()), Some(()));
    }
}
