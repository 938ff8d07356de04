import MempinTree
