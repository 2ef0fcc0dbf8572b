//! A teacher's own outline (`--outline`, or the modules of an earlier run): what the model
//! must keep as given. Below both the course and the reply schemas, which read it.

use serde::{Deserialize, Serialize};

/// One module of a teacher's outline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GivenModule {
    /// Its title, as given.
    pub title: String,
    /// Its focus, when given; else the model writes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<String>,
}

/// A teacher's outline: the modules, and any course fields a previous run's JSON carried.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GivenOutline {
    /// Course title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Course description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Intended learners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// What learners should know beforehand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prerequisites: Option<Vec<String>>,
    /// Course-level learning outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_outcomes: Option<Vec<String>>,
    /// Modules in order.
    pub modules: Vec<GivenModule>,
}

impl GivenOutline {
    /// Every text the teacher gave: kept as it is, never refused by the content checks.
    pub fn texts(&self) -> Vec<&str> {
        let mut t: Vec<&str> = [&self.title, &self.description, &self.audience]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        for list in [&self.prerequisites, &self.learning_outcomes]
            .into_iter()
            .flatten()
        {
            t.extend(list.iter().map(String::as_str));
        }
        for m in &self.modules {
            t.push(&m.title);
            t.extend(m.focus.as_deref());
        }
        t
    }
}
