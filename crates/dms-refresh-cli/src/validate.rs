//! `dms-refresh validate`: load the rules and the key, connect, and let the
//! masking crate check the rules as a run would before its first write
//! ([`masking::Target::validate`], which never writes).

use masking::{Rules, ValidateOptions};

use crate::connect;
use crate::key;
use crate::validate_args::ValidateArgs;
use crate::validate_report::Outcome;

/// Run the command. `Err`: a message for stderr, exit status 2.
pub async fn run(args: &ValidateArgs) -> Result<Outcome, String> {
    let rules = Rules::load(&args.rules).map_err(|e| format!("bad rules file: {e}"))?;
    let (key, key_source) = match &args.key_file {
        Some(path) => key::from_file(path)?,
        None => key::random()?,
    };
    let target = connect::target(&args.conn).await?;
    let opts = ValidateOptions {
        schema: args.conn.schema.clone(),
        sample_rows: args.sample,
        reveal_originals: args.reveal_originals,
    };
    let result = target.validate(&rules, &key, &opts).await;
    target.close().await;
    let report = result.map_err(|e| format!("cannot validate: {e}"))?;
    Ok(Outcome {
        key: key_source,
        report,
    })
}
