//! Contact keys: the normalized phones, e-mails, web domains and messenger accounts of an ad, as
//! strings that are equal exactly when two ads print the same contact.
//!
//! A key is `kind:value`: `phone:+525512345678` (E.164), `email:ana@example.org` (lowercased),
//! `domain:empleos-usa.mx` (the registrable domain of a URL, by the Public Suffix List),
//! `page:facebook.com/agencia.lupita` (a page on a big shared site, where the domain itself says
//! nothing about who posted), and `telegram:ivan_work`, `wechat:mei_job888`, … (messenger
//! accounts, lowercased, `@` and `t.me/` forms already unified by the entity extractor).
//! Messenger accounts whose id is a phone number are keyed by the phone alone, so a WhatsApp
//! number and the same number printed as a phone link the ads.

use anyhow::{bail, Result};

use crate::ingest::Entities;

/// Sites where unrelated advertisers all have pages, so the domain alone identifies nobody:
/// social networks, messengers, link shorteners, search engines and the big job and classifieds
/// portals ads are cross-posted to. A URL on one of them is keyed by its first path segment.
const SHARED_SITES: &[&str] = &[
    "facebook.com",
    "fb.com",
    "instagram.com",
    "twitter.com",
    "x.com",
    "tiktok.com",
    "youtube.com",
    "linkedin.com",
    "ok.ru",
    "whatsapp.com",
    "qq.com",
    "weibo.com",
    "google.com",
    "goo.gl",
    "bit.ly",
    "tinyurl.com",
    "58.com",
    "51job.com",
    "zhaopin.com",
    "hh.ru",
    "avito.ru",
    "superjob.ru",
    "indeed.com",
    "craigslist.org",
    "computrabajo.com",
    "mercadolibre.com",
    "olx.com",
];

/// Messenger links (`t.me/x`, `wa.me/<number>`, …): the entity extractor already reads them as
/// handles, which are keyed as such.
const MESSENGER_LINK_SITES: &[&str] = &["t.me", "telegram.me", "wa.me", "vk.com", "line.me"];

/// The contact keys of an ad's entities, deduplicated, in order of appearance.
pub fn contact_keys(entities: &Entities) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let phones = entities.phones.iter().map(|p| format!("phone:{p}"));
    let emails = entities.emails.iter().map(|e| format!("email:{e}"));
    let urls = entities.urls.iter().filter_map(|u| url_key(u));
    let handles = entities
        .handles
        .iter()
        .filter(|h| !h.id.starts_with('+'))
        .map(|h| format!("{}:{}", h.app, h.id.to_lowercase()));
    for key in phones.chain(emails).chain(urls).chain(handles) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// `domain:` or `page:` key of a URL as printed (scheme optional); `None` for a bare shared site.
fn url_key(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest[..end].rsplit('@').next()?.split(':').next()?;
    let host = host.trim_end_matches('.').to_lowercase();
    let domain = psl::domain_str(&host)?.to_string();
    if MESSENGER_LINK_SITES.contains(&domain.as_str()) {
        return None;
    }
    if !SHARED_SITES.contains(&domain.as_str()) {
        return Some(format!("domain:{domain}"));
    }
    let page = rest[end..]
        .trim_start_matches('/')
        .split(['/', '?', '#'])
        .next()
        .filter(|s| !s.is_empty())?;
    Some(format!("page:{domain}/{}", page.to_lowercase()))
}

/// Reads a contact as a user types it for the stop-list: a key (`phone:+525512345678`) or a bare
/// phone in E.164, e-mail address or domain.
pub fn parse_contact(input: &str) -> Result<String> {
    let s = input.trim();
    let help = "write it as phone:+525512345678 (or +525512345678), email:name@example.org, \
                domain:example.com, page:facebook.com/name or APP:id (telegram:ivan_work)";
    if let Some((kind, value)) = s.split_once(':') {
        let value = value.trim();
        let key = match kind.trim().to_lowercase().as_str() {
            "phone" => format!(
                "phone:{}",
                e164(value)
                    .ok_or_else(|| anyhow::anyhow!("{s:?} is not an E.164 number: {help}"))?
            ),
            "domain" => url_key(value)
                .ok_or_else(|| anyhow::anyhow!("{s:?} has no registrable domain: {help}"))?,
            "email" | "page" | "whatsapp" | "wechat" | "telegram" | "qq" | "vk" | "line"
            | "viber" => format!("{}:{}", kind.trim().to_lowercase(), value.to_lowercase()),
            _ => bail!("unknown contact kind in {s:?}: {help}"),
        };
        return Ok(key);
    }
    if let Some(p) = e164(s) {
        Ok(format!("phone:{p}"))
    } else if s.contains('@') {
        Ok(format!("email:{}", s.to_lowercase()))
    } else if let Some(key) = s.contains('.').then(|| url_key(s)).flatten() {
        Ok(key)
    } else {
        bail!("cannot tell what kind of contact {s:?} is: {help}")
    }
}

/// `+` and 7 to 15 digits, separators dropped.
fn e164(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let plain = s
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    (s.starts_with('+') && plain && (7..=15).contains(&digits.len())).then(|| format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::entities::extract;

    #[test]
    fn telegram_written_three_ways_is_one_key() {
        for text in [
            "Пишите в Telegram @ivan_work",
            "Подробности: t.me/ivan_work",
            "телеграм ivan_work",
        ] {
            assert_eq!(
                contact_keys(&extract(text, None)),
                ["telegram:ivan_work"],
                "{text}"
            );
        }
    }

    #[test]
    fn urls_key_by_registrable_domain_or_page_on_shared_sites() {
        assert_eq!(
            url_key("https://empleos.agencia-norte.com.mx/oferta?id=7").as_deref(),
            Some("domain:agencia-norte.com.mx")
        );
        assert_eq!(
            url_key("www.facebook.com/Agencia.Lupita/posts/1").as_deref(),
            Some("page:facebook.com/agencia.lupita")
        );
        assert_eq!(url_key("https://facebook.com/"), None);
    }

    #[test]
    fn whatsapp_numbers_are_keyed_as_phones() {
        let e = extract("WhatsApp +52 55 1234 5678, correo Ana@Example.org", None);
        assert_eq!(
            contact_keys(&e),
            ["phone:+525512345678", "email:ana@example.org"]
        );
    }

    #[test]
    fn stop_list_entries_are_read_as_keys() {
        assert_eq!(
            parse_contact("+52 55 5555-0100").unwrap(),
            "phone:+525555550100"
        );
        assert_eq!(
            parse_contact("phone:+525555550100").unwrap(),
            "phone:+525555550100"
        );
        assert_eq!(
            parse_contact("Info@Diario.mx").unwrap(),
            "email:info@diario.mx"
        );
        assert_eq!(
            parse_contact("www.diario.com.mx").unwrap(),
            "domain:diario.com.mx"
        );
        assert_eq!(
            parse_contact("Telegram:Ivan_Work").unwrap(),
            "telegram:ivan_work"
        );
        let err = parse_contact("switchboard").unwrap_err().to_string();
        assert!(err.contains("phone:+"), "{err}");
    }
}
