//! Figures, each beside its same-run baseline, printed as a table and
//! written as JSON.

use serde::Serialize;

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The scenario it belongs to.
    pub scenario: String,
    /// What was measured.
    pub metric: String,
    /// The value (median of the rounds).
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The baseline it is compared with, when it has one.
    pub baseline: Option<Baseline>,
    /// The goal, in words, when the issue sets one.
    pub goal: Option<String>,
    /// Whether the goal is met (None without a goal).
    pub goal_met: Option<bool>,
}

/// A raw baseline measured in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// What the baseline is.
    pub name: String,
    /// Its value (median of the rounds).
    pub value: f64,
    /// value / baseline value.
    pub ratio: f64,
}

impl Figure {
    /// A figure without a baseline.
    pub fn plain(scenario: &str, metric: &str, value: f64, unit: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            metric: metric.to_owned(),
            value,
            unit: unit.to_owned(),
            baseline: None,
            goal: None,
            goal_met: None,
        }
    }

    /// Adds the baseline it is compared with.
    pub fn against(mut self, name: &str, value: f64) -> Self {
        self.baseline = Some(Baseline {
            name: name.to_owned(),
            value,
            ratio: self.value / value,
        });
        self
    }

    /// Adds a goal and whether it is met.
    pub fn goal(mut self, goal: &str, met: bool) -> Self {
        self.goal = Some(goal.to_owned());
        self.goal_met = Some(met);
        self
    }
}

/// Prints the figures as a table.
pub fn print_table(figures: &[Figure]) {
    println!(
        "{:<10} {:<44} {:>12} {:<6} {:<34} {:>12} {:>7}  goal",
        "scenario", "metric", "value", "unit", "baseline", "baseline", "ratio"
    );
    for f in figures {
        let (name, value, ratio) = match &f.baseline {
            Some(b) => (
                b.name.as_str(),
                format!("{:.1}", b.value),
                format!("{:.2}", b.ratio),
            ),
            None => ("", String::new(), String::new()),
        };
        let goal = match (&f.goal, f.goal_met) {
            (Some(goal), Some(true)) => format!("met: {goal}"),
            (Some(goal), _) => format!("NOT met: {goal}"),
            _ => String::new(),
        };
        println!(
            "{:<10} {:<44} {:>12.1} {:<6} {:<34} {:>12} {:>7}  {}",
            f.scenario, f.metric, f.value, f.unit, name, value, ratio, goal
        );
    }
}
