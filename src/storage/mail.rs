//! Mail port (SLA notices): `.eml` files in an outbox directory by default, SMTP through
//! `lettre` when `SMTP_HOST` is set.

use std::path::{Path, PathBuf};

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;

/// One plain-text mail.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// `outbox` or `smtp`.
    fn backend(&self) -> &'static str;
    async fn send(&self, mail: &Mail) -> anyhow::Result<()>;
    /// Readiness probe.
    async fn ping(&self) -> anyhow::Result<()>;
}

pub fn open(config: &MailConfig, data_dir: &Path) -> anyhow::Result<std::sync::Arc<dyn Mailer>> {
    let from: Mailbox = config
        .mail_from
        .parse()
        .context("MAIL_FROM is not a mailbox")?;
    Ok(match &config.smtp_host {
        Some(host) => {
            let mut builder = if config.smtp_secure {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).context("SMTP_HOST")?
            } else {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            }
            .port(config.smtp_port)
            .timeout(Some(std::time::Duration::from_secs(10)));
            if let (Some(user), Some(pass)) = (&config.smtp_user, &config.smtp_pass) {
                builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
            }
            std::sync::Arc::new(SmtpMailer {
                transport: builder.build(),
                from,
            })
        }
        None => {
            let dir = data_dir.join("outbox");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::sync::Arc::new(OutboxMailer {
                transport: AsyncFileTransport::new(&dir),
                dir,
                from,
            })
        }
    })
}

fn build_message(from: &Mailbox, mail: &Mail) -> anyhow::Result<Message> {
    let mut builder = Message::builder().from(from.clone()).subject(&mail.subject);
    for to in &mail.to {
        builder = builder.to(to.parse().with_context(|| format!("bad recipient {to}"))?);
    }
    Ok(builder.body(mail.body.clone())?)
}

struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    fn backend(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        self.transport
            .send(build_message(&self.from, mail)?)
            .await
            .context("sending mail over SMTP")?;
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.transport
                .test_connection()
                .await
                .context("SMTP connection")?,
            "SMTP server did not answer NOOP"
        );
        Ok(())
    }
}

struct OutboxMailer {
    transport: AsyncFileTransport<Tokio1Executor>,
    dir: PathBuf,
    from: Mailbox,
}

#[async_trait::async_trait]
impl Mailer for OutboxMailer {
    fn backend(&self) -> &'static str {
        "outbox"
    }

    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        self.transport
            .send(build_message(&self.from, mail)?)
            .await
            .context("writing mail to the outbox")?;
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.dir.is_dir(),
            "outbox {} is missing",
            self.dir.display()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outbox_writes_eml_files() {
        let dir = tempfile::tempdir().unwrap();
        let config = MailConfig {
            smtp_host: None,
            smtp_port: 25,
            smtp_user: None,
            smtp_pass: None,
            smtp_secure: false,
            mail_from: "Kasi <no-reply@kasi.test>".into(),
        };
        let mailer = open(&config, dir.path()).unwrap();
        mailer.ping().await.unwrap();
        mailer
            .send(&Mail {
                to: vec!["pm@example.org".into()],
                subject: "SLA warning".into(),
                body: "Task due soon".into(),
            })
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(text.contains("Subject: SLA warning"));
        assert!(text.contains("To: pm@example.org"));
    }
}
