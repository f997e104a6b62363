from purista.cli import main

main()
