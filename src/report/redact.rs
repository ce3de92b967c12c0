//! Redaction for sharing ads outside the office: phones, e-mails, messenger handles and personal
//! names in free text become placeholders (`[PHONE-1]`, `[EMAIL-2]`, `[HANDLE-1]`, `[NAME-3]`).
//! One [`Redactor`] serves a whole export, so the same value gets the same placeholder everywhere
//! in it: analysts can still see that two ads share a number without seeing the number.
//!
//! What counts as what (deliberately wide: a false placeholder costs little, a leaked contact a lot):
//! - **phones**: any run of 7 or more digits (any script's digits), separated by at most three
//!   spaces, dashes, dots, slashes or brackets, except dates (`2027-01-15`, `15.01.2027`). Two
//!   phones are the same value when their last 8 digits are, so `+52 55 1234 5678`,
//!   `55-1234-5678` and the extracted `+525512345678` share a placeholder;
//! - **e-mails**: `local@domain.tld`;
//! - **handles**: `@name`, links to t.me / wa.me / vk.com / line.me, a username right after a
//!   messenger's name (`WeChat: mei_job888`, `微信号 abc123`, `телеграм @x`) when it follows `:`,
//!   `ID`, `号` or `@` or contains a digit or `_`, and every handle the ingest stage extracted;
//! - **names** (a heuristic: names have no pattern of their own, so only names introduced by a cue
//!   are found): one to three capitalized words after an honorific or contact cue — Spanish `Sr`,
//!   `Sra`, `Srta` (dot or not), `señor(a)`, `Lic.`, `preguntar por`, `contactar a`, `llamar a`,
//!   `hablar con`; English `Mr`, `Mrs`, `Ms`, `Dr` (dot or not), `Miss`, `ask for`, `contact`,
//!   `call`, `speak to/with`, `talk to`; Russian `спросить`, `обращаться к`, `звонить`, `контактное лицо`, `г-н`, `г-жа`;
//!   Chinese: a common surname followed by `先生`, `女士`, `小姐`, `经理` or `老师` (`王先生`), and
//!   the name after `联系人`. Names without a cue ("Maria will meet you") are not found.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::ingest::entities::Handle;

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+").expect("valid"));
static HANDLE_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|wa\.me|vk\.com|line\.me/ti/p)/[\w~.\-+]+")
        .expect("valid")
});
static AT_HANDLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"@[A-Za-z0-9_][A-Za-z0-9_.]{2,}").expect("valid"));
/// A messenger's name; the id after it is group `id`.
const APPS: &str = r"(?:(?i:\b(?:whatsapp|wechat|weixin|telegram|viber|line|qq|vk|skype|signal|kakao(?:talk)?)\b)|微信号?|电报|(?i:телеграм\w*|вайбер\w*|вот?сап\w*|ват?сап\w*))";
static APP_ID_AFTER_MARK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"{APPS}\s*(?:(?i:id)|号)?\s*[:：@]\s*@?(?P<id>[\w.\-]{{2,}})"
    ))
    .expect("valid")
});
static APP_ID_WITH_DIGIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"{APPS}\s*(?:(?i:id)|号)?\s*@?(?P<id>[\w.\-]*[\d_][\w.\-]*)"
    ))
    .expect("valid")
});
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[+(]?\d(?:[\s\p{Pd}().·/\\]{0,3}\d){6,}").expect("valid"));
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\d{4}[\-./]\d{1,2}[\-./]\d{1,2}|\d{1,2}[\-./]\d{1,2}[\-./]\d{4})$")
        .expect("valid")
});
static NAME_AFTER_CUE: LazyLock<Regex> = LazyLock::new(|| {
    let cues = r"(?i:\b(?:sra?|srta|mrs?|ms|dr)\b\.?|\b(?:lic|ing)\.|\bse[ñn]or(?:a|ita)?|\bmiss|\bask\s+for|\bcontact|\bcall|\bspeak\s+(?:to|with)|\btalk\s+to|\bpregunt(?:ar|e)\s+por|\bcontact(?:ar|e)\s+a|\bllam(?:ar|e)\s+a|\bhablar\s+con|\bcomunicarse\s+con|спросить|обращаться\s+к|обращайтесь\s+к|звонить|звоните|контактное\s+лицо:?|г-н|г-жа)";
    Regex::new(&format!(
        r"(?P<cue>(?:{cues}\s+)+)(?P<name>\p{{Lu}}\p{{Ll}}+(?:[ \t]+\p{{Lu}}\p{{Ll}}+){{0,2}})"
    ))
    .expect("valid")
});
/// Capitalized words that follow the cues without being names ("Call Now", "Contact Us").
const NOT_NAMES: &[&str] = &[
    "Us", "Our", "Now", "Today", "The", "We", "Me", "Him", "Her", "Them", "Anytime", "Mon", "Tue",
    "Wed", "Thu", "Fri", "Sat", "Sun", "Center", "Centre", "Agency", "Office",
];
static CHINESE_NAME: LazyLock<Regex> = LazyLock::new(|| {
    let surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
    Regex::new(&format!(
        r"[{surnames}](?:先生|女士|小姐|经理|老师)|联系人[:：\s]*\p{{Han}}{{2,3}}"
    ))
    .expect("valid")
});

/// What a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Phone,
    Email,
    Handle,
    Name,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Phone => "PHONE",
            Kind::Email => "EMAIL",
            Kind::Handle => "HANDLE",
            Kind::Name => "NAME",
        }
    }
}

/// Replaces contacts and names with placeholders, the same placeholder for the same value across
/// everything it redacts.
#[derive(Debug, Default)]
pub struct Redactor {
    placeholders: HashMap<(Kind, String), String>,
    counts: HashMap<Kind, usize>,
    /// Usernames of handles seen so far (lowercase), found in free text wherever they appear.
    usernames: Vec<String>,
}

/// The key two phones share when they are the same number: their last 8 digits (any script's
/// digits read as 0–9).
fn phone_key(s: &str) -> String {
    let digits: Vec<char> = s
        .chars()
        .filter_map(|c| c.to_digit(10).or_else(|| unicode_digit(c)))
        .map(|d| char::from_digit(d, 10).expect("a digit"))
        .collect();
    digits[digits.len().saturating_sub(8)..].iter().collect()
}

/// The value of a decimal digit of another script (fullwidth `５`, Arabic-Indic `٥`, …).
fn unicode_digit(c: char) -> Option<u32> {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = c.to_string().nfkc().collect();
    folded.chars().next().and_then(|d| d.to_digit(10))
}

impl Redactor {
    /// A redactor with no placeholders given yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn placeholder(&mut self, kind: Kind, key: String) -> String {
        if let Some(p) = self.placeholders.get(&(kind, key.clone())) {
            return p.clone();
        }
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        let p = format!("[{}-{n}]", kind.tag());
        self.placeholders.insert((kind, key), p.clone());
        p
    }

    /// The placeholder of a phone number (E.164 or as printed).
    pub fn phone(&mut self, phone: &str) -> String {
        self.placeholder(Kind::Phone, phone_key(phone))
    }

    /// The placeholder of an e-mail address.
    pub fn email(&mut self, email: &str) -> String {
        self.placeholder(Kind::Email, email.to_lowercase())
    }

    /// The placeholder of a personal name (a user, a submitter, a name in text).
    pub fn name(&mut self, name: &str) -> String {
        let key = name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        self.placeholder(Kind::Name, key)
    }

    /// A handle with its id replaced: a phone id by the phone's placeholder, a username by a
    /// handle placeholder (remembered, so the username is also found in free text).
    pub fn handle(&mut self, h: &Handle) -> Handle {
        let id = if h.id.starts_with('+') {
            self.phone(&h.id)
        } else {
            self.username(&h.id)
        };
        Handle {
            app: h.app.clone(),
            id,
        }
    }

    fn username(&mut self, id: &str) -> String {
        let key = id.trim_start_matches('@').to_lowercase();
        if key.len() >= 3 && !self.usernames.contains(&key) {
            self.usernames.push(key.clone());
        }
        self.placeholder(Kind::Handle, key)
    }

    /// Free text with every contact and cued name replaced. Call [`Redactor::handle`] on an ad's
    /// extracted handles first, so that usernames without a pattern of their own are found too.
    pub fn text(&mut self, text: &str) -> String {
        let mut s = EMAIL
            .replace_all(text, |c: &Captures| self.email(&c[0]))
            .into_owned();
        s = HANDLE_LINK
            .replace_all(&s, |c: &Captures| {
                let id = c[0].rsplit('/').next().unwrap_or_default().to_string();
                if id.chars().filter(char::is_ascii_digit).count() >= 7 {
                    self.phone(&id)
                } else {
                    self.username(&id)
                }
            })
            .into_owned();
        for re in [&*APP_ID_AFTER_MARK, &*APP_ID_WITH_DIGIT] {
            s = re
                .replace_all(&s, |c: &Captures| {
                    let id = &c["id"];
                    let whole = &c[0];
                    if id
                        .chars()
                        .all(|ch| ch.is_ascii_digit() || ch == '-' || ch == '.')
                    {
                        // Digits after an app name are a phone, possibly spaced: left whole to PHONE.
                        return whole.to_string();
                    }
                    let placeholder = if id.chars().filter(char::is_ascii_digit).count() >= 7 {
                        self.phone(id)
                    } else {
                        self.username(id)
                    };
                    format!("{}{placeholder}", &whole[..whole.len() - id.len()])
                })
                .into_owned();
        }
        s = AT_HANDLE
            .replace_all(&s, |c: &Captures| self.username(&c[0]))
            .into_owned();
        s = self.known_usernames(&s);
        s = PHONE
            .replace_all(&s, |c: &Captures| {
                if DATE.is_match(&c[0]) {
                    c[0].to_string()
                } else {
                    self.phone(&c[0])
                }
            })
            .into_owned();
        s = NAME_AFTER_CUE
            .replace_all(&s, |c: &Captures| {
                let name = &c["name"];
                let first = name.split_whitespace().next().unwrap_or_default();
                if NOT_NAMES.contains(&first) {
                    c[0].to_string()
                } else {
                    format!("{}{}", &c["cue"], self.name(name))
                }
            })
            .into_owned();
        CHINESE_NAME
            .replace_all(&s, |c: &Captures| match c[0].strip_prefix("联系人") {
                Some(rest) => {
                    let name = rest.trim_start_matches([':', '：', ' ']);
                    format!("{}{}", &c[0][..c[0].len() - name.len()], self.name(name))
                }
                None => self.name(&c[0]),
            })
            .into_owned()
    }

    /// Replaces the usernames of handles seen so far wherever they occur (case-insensitive).
    fn known_usernames(&mut self, text: &str) -> String {
        let mut s = text.to_string();
        for name in self.usernames.clone() {
            let re = Regex::new(&format!(r"(?i)@?{}", regex::escape(&name))).expect("escaped");
            let placeholder = self.placeholder(Kind::Handle, name);
            s = re.replace_all(&s, placeholder.as_str()).into_owned();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_phone_in_any_spacing_gets_one_placeholder() {
        let mut r = Redactor::new();
        let a = r.text("Llame al +52 55 1234 5678 o al 55-1234-5678, (55) 1234.5678");
        assert_eq!(a, "Llame al [PHONE-1] o al [PHONE-1], [PHONE-1]");
        assert_eq!(r.phone("+525512345678"), "[PHONE-1]");
        assert_eq!(r.text("тел. ８９１６ １２３ ４５ ６７"), "тел. [PHONE-2]");
        assert_eq!(
            r.text("Solo WhatsApp 55 3412 8890"),
            "Solo WhatsApp [PHONE-3]"
        );
    }

    #[test]
    fn dates_and_prices_stay() {
        let mut r = Redactor::new();
        let s = "Salida 2027-01-15, sueldo $15,000 al mes, 18-25 años";
        assert_eq!(r.text(s), s);
    }

    #[test]
    fn emails_handles_and_links() {
        let mut r = Redactor::new();
        let out = r.text(
            "Write Jobs.USA@Example.com or jobs.usa@example.com, WeChat: mei_job888, t.me/fastvisa, @recruit_ru, 微信号abc123",
        );
        assert_eq!(
            out,
            "Write [EMAIL-1] or [EMAIL-1], WeChat: [HANDLE-2], [HANDLE-1], [HANDLE-4], 微信号[HANDLE-3]"
        );
        // A handle the ingest stage extracted is found even without its app name.
        let h = r.handle(&Handle {
            app: "telegram".into(),
            id: "MariaTravel".into(),
        });
        assert_eq!(
            r.text("write to MariaTravel today"),
            format!("write to {} today", h.id)
        );
        assert_eq!(r.text("WhatsApp only"), "WhatsApp only");
    }

    #[test]
    fn names_after_cues_in_four_languages() {
        let mut r = Redactor::new();
        assert_eq!(
            r.text("Preguntar por Sra. Lupita Gómez. Ask for Maria. Contact Us today."),
            "Preguntar por Sra. [NAME-1]. Ask for [NAME-2]. Contact Us today."
        );
        assert_eq!(r.text("Спросить Ольгу Петровну"), "Спросить [NAME-3]");
        assert_eq!(
            r.text("联系人：李娜，或王先生"),
            "联系人：[NAME-4]，或[NAME-5]"
        );
        assert_eq!(r.name("maria"), "[NAME-2]");
        assert_eq!(
            r.text("Call or WhatsApp Mr Emeka 0803 555 7412"),
            "Call or WhatsApp Mr [NAME-6] [PHONE-1]"
        );
    }
}
