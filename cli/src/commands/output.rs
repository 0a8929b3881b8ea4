//! What the commands print and read: JSON, one line per result.

use std::path::Path;

use fieldlink_protocol::pb;

use super::error::CliError;

/// Prints `value` as one line of JSON on stdout.
pub fn print_line<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Prints `value` as indented JSON on stdout (examples meant to be edited).
pub fn print_pretty<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Reads an item from a JSON file (`-`: standard input); a file that cannot
/// be read or is not such an item is a usage error.
pub fn read_json<T: serde::de::DeserializeOwned>(file: &Path) -> Result<T, CliError> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{} is not a valid item: {e}", file.display())))
}

/// The receipt as one line of JSON: `id`, `server_seq`, `received_at_ms`,
/// `sha256` and `sm3` (hex), `leaf_index` (the transparency log) and
/// `replayed`.
pub fn receipt_json(receipt: &pb::Receipt) -> serde_json::Value {
    serde_json::json!({
        "id": receipt.item_id,
        "server_seq": receipt.server_seq,
        "received_at_ms": receipt.received_at_ms,
        "sha256": hex::encode(&receipt.sha256),
        "sm3": hex::encode(&receipt.sm3),
        "leaf_index": receipt.leaf_index,
        "replayed": receipt.replayed,
    })
}

/// A photo receipt as one line of JSON: the receipt's fields and `size`
/// and the evidence `flags` by name.
pub fn photo_receipt_json(receipt: &pb::Receipt) -> serde_json::Value {
    let flags: Vec<&str> = receipt
        .flags
        .iter()
        .map(|flag| {
            pb::EvidenceFlag::try_from(*flag)
                .map(|f| f.as_str_name())
                .unwrap_or("UNKNOWN")
        })
        .collect();
    let mut json = receipt_json(receipt);
    json["size"] = receipt.size_bytes.into();
    json["flags"] = flags.into();
    json
}
