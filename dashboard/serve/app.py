"""gradlab's dashboard as installed: the script ``gradlab dashboard`` hands to
``streamlit run`` (``python -m dashboard``). It sits in a folder of its own, so the
folder Streamlit puts first on sys.path holds nothing else to import by mistake."""

from dashboard.navigation import main

main()
