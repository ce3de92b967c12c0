//! The label scheme of `shared/TAXONOMY.md`: the overall label and the 11 indicator tags.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One trafficking indicator that can be seen in the text of an ad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// Earnings far above the market, or guaranteed income.
    DeceptivePay,
    /// No experience, skills or language needed where they normally would be.
    NoQualifications,
    /// The recruiter pays for or arranges the trip, tickets, visa or papers.
    TravelArranged,
    /// Fees charged to the applicant, or costs repaid from future wages.
    RecruitmentFeesDebt,
    /// Irregular papers or status; passports held by the recruiter.
    DocumentIrregularity,
    /// No identifiable employer; contact only through a personal phone or messenger.
    VagueEmployer,
    /// Restrictions on age, sex, marital status or looks; photos requested.
    TargetsVulnerable,
    /// Vague or euphemistic work, often "hostess", "massage", "model".
    AmbiguousWork,
    /// Pressure to decide or leave fast, secrecy.
    UrgencyPressure,
    /// Housing, food or transport tied to the employer, deductions, limits on movement.
    ControlledLiving,
    /// Offers of marriage, brides, dating abroad.
    MarriageOffer,
}

impl Indicator {
    /// All indicators, in the order of TAXONOMY.md.
    pub const ALL: [Indicator; 11] = [
        Indicator::DeceptivePay,
        Indicator::NoQualifications,
        Indicator::TravelArranged,
        Indicator::RecruitmentFeesDebt,
        Indicator::DocumentIrregularity,
        Indicator::VagueEmployer,
        Indicator::TargetsVulnerable,
        Indicator::AmbiguousWork,
        Indicator::UrgencyPressure,
        Indicator::ControlledLiving,
        Indicator::MarriageOffer,
    ];

    /// The tag as written in records and output (`travel_arranged`).
    pub fn id(self) -> &'static str {
        match self {
            Indicator::DeceptivePay => "deceptive_pay",
            Indicator::NoQualifications => "no_qualifications",
            Indicator::TravelArranged => "travel_arranged",
            Indicator::RecruitmentFeesDebt => "recruitment_fees_debt",
            Indicator::DocumentIrregularity => "document_irregularity",
            Indicator::VagueEmployer => "vague_employer",
            Indicator::TargetsVulnerable => "targets_vulnerable",
            Indicator::AmbiguousWork => "ambiguous_work",
            Indicator::UrgencyPressure => "urgency_pressure",
            Indicator::ControlledLiving => "controlled_living",
            Indicator::MarriageOffer => "marriage_offer",
        }
    }
}

impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Indicator {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Indicator::ALL
            .into_iter()
            .find(|i| i.id() == s)
            .ok_or_else(|| {
                let ids: Vec<_> = Indicator::ALL.iter().map(|i| i.id()).collect();
                format!("unknown indicator {s:?}: use one of {}", ids.join(", "))
            })
    }
}
