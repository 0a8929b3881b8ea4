//! `fieldlink stats`: the statistics of a period from the supervisor
//! console's API (`GET /api/stats`), signed in as a supervisor — the demo
//! one with `--dev` — printed as JSON or CSV.

use std::time::Duration;

use clap::Args;

use super::connection::{dev_certs_dir, ConnectionArgs, DEV_SUPERVISOR};
use super::error::CliError;

/// Password of the demo accounts (`--dev`).
const DEV_PASSWORD: &str = "demo-password";

/// Which figures.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// First day, YYYY-MM-DD (China Standard Time).
    #[arg(long)]
    from: String,
    /// Last day, inclusive.
    #[arg(long)]
    to: String,
    /// Group by domain, matter, team, officer or month.
    #[arg(long, default_value = "domain")]
    by: String,
    /// json (the whole report) or csv (the rows).
    #[arg(long, default_value = "json")]
    format: String,
    /// The console's base URL [--dev: http://127.0.0.1:8080]. HTTPS is
    /// checked against --ca (the agency CA).
    #[arg(long)]
    console: Option<String>,
}

/// Signs in to the console, asks for the report, prints it.
pub async fn run(connection: &ConnectionArgs, args: StatsArgs) -> Result<(), CliError> {
    if !matches!(args.format.as_str(), "json" | "csv") {
        return Err(CliError::Usage("--format must be json or csv".into()));
    }
    let base = match (&args.console, connection.dev) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, true) => "http://127.0.0.1:8080".to_owned(),
        (None, false) => return Err(CliError::Usage("--console is required (or --dev)".into())),
    };
    let officer = match (&connection.officer, connection.dev) {
        (Some(officer), _) => officer.clone(),
        (None, true) => DEV_SUPERVISOR.to_owned(),
        (None, false) => return Err(CliError::Usage("--officer is required (or --dev)".into())),
    };
    let password = match std::env::var(&connection.password_env) {
        Ok(password) => password,
        Err(_) if connection.dev => DEV_PASSWORD.to_owned(),
        Err(_) => {
            return Err(CliError::Usage(format!(
                "set the supervisor's password in ${}",
                connection.password_env
            )))
        }
    };
    let http = client(connection, &base)?;
    let failed = |e: reqwest::Error| CliError::Incomplete(format!("the console at {base}: {e}"));
    let signed_in = http
        .post(format!("{base}/api/session"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "officer_id": officer, "password": password }).to_string())
        .send()
        .await
        .map_err(failed)?;
    if !signed_in.status().is_success() {
        let status = signed_in.status();
        let body = signed_in.text().await.unwrap_or_default();
        return Err(CliError::Incomplete(format!(
            "sign-in refused ({status}): {body}"
        )));
    }
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| CliError::Incomplete("the console set no session cookie".into()))?
        .to_owned();
    // Dates, a grouping and a format: nothing to escape but what a user
    // mistypes, which the server then refuses.
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    let query = format!(
        "from={}&to={}&by={}&format={}",
        encode(&args.from),
        encode(&args.to),
        encode(&args.by),
        encode(&args.format)
    );
    let answer = http
        .get(format!("{base}/api/stats?{query}"))
        .header("cookie", &cookie)
        .send()
        .await
        .map_err(failed)?;
    let status = answer.status();
    let text = answer.text().await.map_err(failed)?;
    // Sign out whatever happened (the session would expire anyway).
    let _ = http
        .delete(format!("{base}/api/session"))
        .header("cookie", &cookie)
        .send()
        .await;
    if status.as_u16() == 400 {
        return Err(CliError::Usage(text));
    }
    if !status.is_success() {
        return Err(CliError::Incomplete(format!(
            "the console answered {status}: {text}"
        )));
    }
    print!("{}", text.trim_start_matches('\u{feff}'));
    if !text.ends_with('\n') {
        println!();
    }
    Ok(())
}

fn client(connection: &ConnectionArgs, base: &str) -> Result<reqwest::Client, CliError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(120));
    if base.starts_with("https://") {
        let ca = match (&connection.ca, connection.dev) {
            (Some(path), _) => path.clone(),
            (None, true) => dev_certs_dir().join("ca.pem"),
            (None, false) => return Err(CliError::Usage("--ca is required for an https console".into())),
        };
        let pem = std::fs::read(&ca).map_err(|e| CliError::Usage(format!("{}: {e}", ca.display())))?;
        let certificate = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| CliError::Usage(format!("{}: {e}", ca.display())))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build()
        .map_err(|e| CliError::Incomplete(format!("cannot make an HTTP client: {e}")))
}
