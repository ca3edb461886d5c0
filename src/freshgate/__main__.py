from freshgate.cli import main

main()
