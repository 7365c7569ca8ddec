// Placeholder: filled by the change that introduces catalog.
