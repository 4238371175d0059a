// Entry point of the `lingua` command (placeholder until the subcommands land).
int main() { return 0; }
