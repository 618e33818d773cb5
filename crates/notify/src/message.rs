//! What people read: the Slack message and the email of an event, rendered from its envelope.

use serde_json::{json, Value};

use crate::event::{Envelope, EventType};

fn field<'a>(data: &'a Value, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// A one-line headline and the facts as (label, value) lines.
pub fn summary(envelope: &Envelope) -> (String, Vec<(String, String)>) {
    let d = &envelope.data;
    let incident_facts = || {
        vec![
            (
                "Environment".to_owned(),
                field(d, "environment_name").to_owned(),
            ),
            ("Severity".to_owned(), field(d, "severity").to_owned()),
            (
                "Affected workflows".to_owned(),
                d.get("affected_workflows")
                    .map(Value::to_string)
                    .unwrap_or_else(|| "?".into()),
            ),
            ("Incident".to_owned(), field(d, "incident_id").to_owned()),
        ]
    };
    let promotion_facts = || {
        vec![
            (
                "From".to_owned(),
                field(d, "source_environment_name").to_owned(),
            ),
            (
                "To".to_owned(),
                field(d, "target_environment_name").to_owned(),
            ),
            ("Error".to_owned(), field(d, "error").to_owned()),
            ("Promotion".to_owned(), field(d, "promotion_id").to_owned()),
            (
                "Deployment".to_owned(),
                field(d, "deployment_id").to_owned(),
            ),
        ]
    };
    match envelope.event_type {
        EventType::IncidentCreated => (
            format!("Drift incident opened: {}", field(d, "title")),
            incident_facts(),
        ),
        EventType::IncidentEscalated => {
            let mut facts = incident_facts();
            facts.push((
                "Time to live used".to_owned(),
                format!(
                    "{}%",
                    d.get("threshold_percent")
                        .map(Value::to_string)
                        .unwrap_or_else(|| "?".into())
                ),
            ));
            (
                format!("Drift incident escalated: {}", field(d, "title")),
                facts,
            )
        }
        EventType::IncidentClosed => {
            let mut facts = incident_facts();
            facts.push(("Resolution".to_owned(), field(d, "resolution").to_owned()));
            (
                format!("Drift incident closed: {}", field(d, "title")),
                facts,
            )
        }
        EventType::PromotionFailed => (
            format!(
                "Promotion into {} failed",
                field(d, "target_environment_name")
            ),
            promotion_facts(),
        ),
        EventType::PromotionRolledBack => (
            format!(
                "Promotion into {} failed and was rolled back",
                field(d, "target_environment_name")
            ),
            promotion_facts(),
        ),
        EventType::Test => (
            "Test notification from WorkflowOps".to_owned(),
            vec![(
                "Message".to_owned(),
                "If you can read this, the channel works.".to_owned(),
            )],
        ),
    }
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body posted to a Slack incoming webhook: `text` (the notification's fallback) and
/// `blocks` (a header and the facts).
pub fn slack(envelope: &Envelope) -> Value {
    let (headline, facts) = summary(envelope);
    let lines: Vec<String> = facts
        .iter()
        .map(|(k, v)| format!("*{}:* {}", slack_escape(k), slack_escape(v)))
        .collect();
    json!({
        "text": slack_escape(&headline),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(&headline, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate(&lines.join("\n"), 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
                format!("`{}` · event {}", envelope.event_type, envelope.id)}]}
        ]
    })
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max_chars - 1).collect();
        t.push('…');
        t
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// An email: subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The email of an event. The subject is one line (line breaks in facts become spaces).
pub fn email(envelope: &Envelope) -> Email {
    let (headline, facts) = summary(envelope);
    let subject = format!("[WorkflowOps] {}", truncate(&one_line(&headline), 200));
    let mut text = format!("{headline}\n\n");
    for (k, v) in &facts {
        text.push_str(&format!("{k}: {v}\n"));
    }
    text.push_str(&format!(
        "\nEvent {} ({}) at {}\n",
        envelope.id,
        envelope.event_type,
        envelope.created_at.to_rfc3339()
    ));
    let rows: String = facts
        .iter()
        .map(|(k, v)| {
            format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let html = format!(
        "<!doctype html><html><body><h2>{}</h2><table>{rows}</table>\
         <p style=\"color:#666\">Event {} ({}) at {}</p></body></html>",
        html_escape(&headline),
        envelope.id,
        envelope.event_type,
        envelope.created_at.to_rfc3339()
    );
    Email {
        subject,
        text,
        html,
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn envelope(event_type: EventType, data: Value) -> Envelope {
        Envelope {
            id: Uuid::new_v4(),
            event_type,
            created_at: Utc::now(),
            tenant_id: Uuid::new_v4(),
            data,
        }
    }

    #[test]
    fn slack_escapes_and_carries_the_facts() {
        let e = envelope(
            EventType::PromotionRolledBack,
            json!({"target_environment_name": "prod <main>", "source_environment_name": "dev",
                   "error": "n8n said 500 & more", "promotion_id": "p", "deployment_id": "d"}),
        );
        let m = slack(&e);
        assert_eq!(
            m["text"],
            "Promotion into prod &lt;main&gt; failed and was rolled back"
        );
        let section = m["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(
            section.contains("*Error:* n8n said 500 &amp; more"),
            "{section}"
        );
    }

    #[test]
    fn email_escapes_html_and_keeps_the_subject_on_one_line() {
        let e = envelope(
            EventType::IncidentCreated,
            json!({"title": "a\r\nBcc: x@y.z <b>", "environment_name": "prod", "severity": "high",
                   "affected_workflows": 2, "incident_id": "i"}),
        );
        let m = email(&e);
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'));
        assert!(m.subject.starts_with("[WorkflowOps] Drift incident opened"));
        assert!(m.html.contains("&lt;b&gt;") && !m.html.contains("<b>"));
        assert!(m.text.contains("Affected workflows: 2"));
    }
}
