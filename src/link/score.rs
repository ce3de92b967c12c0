//! The network score: how urgently analysts should look at a group of linked ads.
//!
//! `score = (0.8 · highest ad score + 0.2 · mean ad score) · (0.7 + 0.3 · spread)`, where
//! `spread = reach / (reach + 4)` and `reach` counts what the group adds beyond one ad: extra ads,
//! extra offices, extra publications and extra languages. The riskiest ad dominates (one clear
//! lure makes the network worth opening); the mean keeps a group of one lure among many ordinary
//! ads below a group of lures; spread lifts operations that post widely — the same recruiter in
//! several papers, cities and languages — up to the full score. A lone ad scores
//! `0.7 · its score`; a network's score is at most 1.

use serde::Serialize;

/// What the score is computed from, per network or cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GroupStats {
    /// Ads in the group.
    pub ads: usize,
    /// Highest ad score.
    pub max_score: f32,
    /// Mean ad score.
    pub mean_score: f32,
    /// Distinct offices that submitted its ads.
    pub offices: usize,
    /// Distinct publications its ads appeared in.
    pub publications: usize,
    /// Distinct languages of its ads.
    pub languages: usize,
}

/// The network score of a group (see the module doc).
pub fn network_score(s: &GroupStats) -> f32 {
    let reach = [s.ads, s.offices, s.publications, s.languages]
        .iter()
        .map(|n| n.saturating_sub(1))
        .sum::<usize>() as f32;
    let spread = reach / (reach + 4.0);
    (0.8 * s.max_score + 0.2 * s.mean_score) * (0.7 + 0.3 * spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(ads: usize, max: f32, mean: f32, spread: usize) -> GroupStats {
        GroupStats {
            ads,
            max_score: max,
            mean_score: mean,
            offices: spread,
            publications: spread,
            languages: 1,
        }
    }

    #[test]
    fn a_lone_ad_scores_seventy_percent_of_its_score() {
        assert!((network_score(&stats(1, 0.9, 0.9, 1)) - 0.63).abs() < 1e-6);
    }

    #[test]
    fn spread_and_riskier_ads_raise_the_score() {
        let local = network_score(&stats(3, 0.9, 0.8, 1));
        let wide = network_score(&stats(3, 0.9, 0.8, 3));
        let milder = network_score(&stats(3, 0.9, 0.3, 3));
        assert!(wide > local && wide > milder, "{local} {wide} {milder}");
        assert!(network_score(&stats(500, 1.0, 1.0, 40)) <= 1.0);
    }
}
