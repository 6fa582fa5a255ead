set terminal pngcairo size 1500,520 background rgb 'white' noenhanced font 'sans,10'
set output 'plot.png'
set multiplot layout 1,3 title 'yopo compare: ../shared/models/tinystories-instruct-3m on ../shared/data/tinystories-eval.txt (dense perplexity 7.814)' noenhanced
set grid
set key top left box opaque samplen 3
set xrange [-0.01:0.325]
set xlabel 'FFN ratio removed (solid: rows, dashed: weights)'
set title 'perplexity against ratio'
set ylabel 'perplexity (log scale)'
set logscale y
set yrange [6.79509:33.7394]
set ytics (8, 10, 15, 20, 30)
plot 'plot.dat' index 1 using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb '#1f77b4' dt 1 title 'random (rows)', \
     'plot.dat' index 2 using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb '#d62728' dt 1 title 'magnitude (rows)', \
     'plot.dat' index 3 using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb '#2ca02c' dt 1 title 'wanda (rows)', \
     'plot.dat' index 4 using 1:2:3 with yerrorlines lw 2 pt 6 lc rgb '#9467bd' dt 2 title 'ken (weights)', \
     'plot.dat' index 5 using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb '#ff7f0e' dt 1 title 'probe (rows)', \
     7.8143591 with lines lw 2 dt 3 lc rgb 'black' title 'dense (7.814)'
unset logscale y
set title 'mean KL(dense || pruned) against ratio'
set ylabel 'KL per token (nats)'
set ytics auto
set yrange [0:1.90933]
plot 'plot.dat' index 1 using 1:4:5 with yerrorlines lw 2 pt 7 lc rgb '#1f77b4' dt 1 title 'random (rows)', \
     'plot.dat' index 2 using 1:4:5 with yerrorlines lw 2 pt 7 lc rgb '#d62728' dt 1 title 'magnitude (rows)', \
     'plot.dat' index 3 using 1:4:5 with yerrorlines lw 2 pt 7 lc rgb '#2ca02c' dt 1 title 'wanda (rows)', \
     'plot.dat' index 4 using 1:4:5 with yerrorlines lw 2 pt 6 lc rgb '#9467bd' dt 2 title 'ken (weights)', \
     'plot.dat' index 5 using 1:4:5 with yerrorlines lw 2 pt 7 lc rgb '#ff7f0e' dt 1 title 'probe (rows)', \
     0 with lines lw 2 dt 3 lc rgb 'black' title 'dense (0)'
set title 'perplexity against parameters (nonzero)'
set logscale y
set yrange [6.79509:33.7394]
set xrange [3.00112:3.47877]
set xlabel 'parameters (millions)'
set ylabel 'perplexity (log scale)'
set format x '%g'
set key top right
set ytics (8, 10, 15, 20, 30)
plot 'plot.dat' index 1 using ($6/1e+06):2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' dt 1 title 'random (rows)', \
     'plot.dat' index 2 using ($6/1e+06):2 with linespoints lw 2 pt 7 lc rgb '#d62728' dt 1 title 'magnitude (rows)', \
     'plot.dat' index 3 using ($6/1e+06):2 with linespoints lw 2 pt 7 lc rgb '#2ca02c' dt 1 title 'wanda (rows)', \
     'plot.dat' index 4 using ($6/1e+06):2 with linespoints lw 2 pt 6 lc rgb '#9467bd' dt 2 title 'ken (weights)', \
     'plot.dat' index 5 using ($6/1e+06):2 with linespoints lw 2 pt 7 lc rgb '#ff7f0e' dt 1 title 'probe (rows)', \
     'plot.dat' index 0 using ($6/1e+06):2 with points pt 5 ps 2 lc rgb 'black' title 'dense'
unset multiplot
