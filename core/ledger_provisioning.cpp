// Placeholder: filled by the change that introduces ledger_provisioning.
