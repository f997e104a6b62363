from purista._main import main

main()
