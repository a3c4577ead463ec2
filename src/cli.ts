// Placeholder replaced by the CLI implementation.
export {};
