//! `wfops-api`: the HTTP API and its administrative commands.

use std::process::ExitCode;

use wfops_api::bootstrap::{bootstrap, BootstrapRequest};
use wfops_config::Config;

const USAGE: &str = "\
usage: wfops-api [COMMAND]

commands:
  serve        start the API (default): migrations, then HTTP on API_BIND; the database is
               DATABASE_URL, or with WFOPS_EMBEDDED_PG=1 a local cluster under WFOPS_HOME
  migrate      apply pending migrations and exit
  bootstrap --tenant NAME --email EMAIL [--password PASSWORD] [--new-key]
               create a tenant, its first admin user and an admin API key (printed once);
               on an existing tenant, does nothing unless --new-key issues another key
  help         show this text

configuration comes from environment variables (and a .env file); see crates/config/README.md";

enum Command {
    Serve,
    Migrate,
    Bootstrap(BootstrapRequest),
    Help,
}

fn parse(args: &[String]) -> Result<Command, String> {
    let Some(first) = args.first() else {
        return Ok(Command::Serve);
    };
    let rest = &args[1..];
    match first.as_str() {
        "serve" | "migrate" | "help" | "--help" | "-h" if !rest.is_empty() => {
            Err(format!("`{first}` takes no arguments"))
        }
        "serve" => Ok(Command::Serve),
        "migrate" => Ok(Command::Migrate),
        "help" | "--help" | "-h" => Ok(Command::Help),
        "bootstrap" => parse_bootstrap(rest).map(Command::Bootstrap),
        other => Err(format!("unknown command `{other}`")),
    }
}

fn parse_bootstrap(args: &[String]) -> Result<BootstrapRequest, String> {
    let (mut tenant, mut email, mut password, mut new_key) = (None, None, None, false);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "--tenant" => tenant = Some(value("--tenant")?),
            "--email" => email = Some(value("--email")?),
            "--password" => password = Some(value("--password")?),
            "--new-key" if inline.is_none() => new_key = true,
            other => return Err(format!("unknown option `{other}` for bootstrap")),
        }
    }
    Ok(BootstrapRequest {
        tenant_name: tenant.ok_or("bootstrap needs --tenant NAME")?,
        email: email.ok_or("bootstrap needs --email EMAIL")?,
        password,
        new_key,
    })
}

#[actix_web::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Command::Help = command {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    // Every command needs a database: without DATABASE_URL and without the embedded switch,
    // stop here, before anything is created or generated.
    let config = match Config::from_env().and_then(|c| c.database().map(|_| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(78);
        }
    };
    wfops_api::telemetry::init(&config);
    let result = match command {
        Command::Serve => wfops_api::run(config).await.map_err(|e| e.to_string()),
        Command::Migrate => wfops_api::prepare(config)
            .await
            .map(|_| println!("migrations are up to date"))
            .map_err(|e| e.to_string()),
        Command::Bootstrap(req) => run_bootstrap(config, req).await,
        Command::Help => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_bootstrap(config: Config, req: BootstrapRequest) -> Result<(), String> {
    let public_url = config.public_url.clone();
    let (_, db) = wfops_api::prepare(config)
        .await
        .map_err(|e| e.to_string())?;
    let email = req.email.clone();
    let outcome = bootstrap(&db, req).await.map_err(|e| e.to_string())?;
    if outcome.created {
        println!(
            "created tenant `{}` ({}) with admin {email}",
            outcome.tenant_slug, outcome.tenant_id
        );
    } else {
        println!(
            "tenant `{}` ({}) already exists; nothing created",
            outcome.tenant_slug, outcome.tenant_id
        );
    }
    match &outcome.api_key {
        Some(key) => {
            println!("API: {public_url}/api/v1");
            println!("admin API key (shown once; store it now):");
            println!("{key}");
        }
        None => println!("run again with --new-key to issue another admin API key"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn commands() {
        assert!(matches!(parse(&[]), Ok(Command::Serve)));
        assert!(matches!(parse(&args("serve")), Ok(Command::Serve)));
        assert!(matches!(parse(&args("migrate")), Ok(Command::Migrate)));
        assert!(matches!(parse(&args("--help")), Ok(Command::Help)));
        assert!(parse(&args("frobnicate"))
            .err()
            .unwrap()
            .contains("unknown command"));
        assert!(parse(&args("serve extra")).is_err());
    }

    #[test]
    fn bootstrap_flags() {
        let Ok(Command::Bootstrap(b)) = parse(&args(
            "bootstrap --tenant Acme --email=a@example.com --password secret-pass --new-key",
        )) else {
            panic!("bootstrap should parse");
        };
        assert_eq!(b.tenant_name, "Acme");
        assert_eq!(b.email, "a@example.com");
        assert_eq!(b.password.as_deref(), Some("secret-pass"));
        assert!(b.new_key);
        assert!(parse(&args("bootstrap --email a@example.com"))
            .err()
            .unwrap()
            .contains("--tenant"));
        assert!(parse(&args("bootstrap --tenant"))
            .err()
            .unwrap()
            .contains("needs a value"));
        assert!(parse(&args("bootstrap --tenant x --email y --bogus"))
            .err()
            .unwrap()
            .contains("--bogus"));
    }
}
